// Greedy, collision-free placement of token labels in screen space: candidates are taken in
// priority order and kept when their box overlaps no box already kept.

export interface LabelCandidate {
  index: number;
  x: number;
  y: number;
  text: string;
}

export interface PlaceOptions {
  width: number;
  height: number;
  fontSize: number;
  max: number;
}

export function placeLabels(candidates: Iterable<LabelCandidate>, options: PlaceOptions): LabelCandidate[] {
  const { width, height, fontSize, max } = options;
  const bucket = Math.max(8, fontSize * 4);
  const columns = Math.ceil(width / bucket) + 1;
  const grid = new Map<number, [number, number, number, number][]>();
  const kept: LabelCandidate[] = [];
  for (const c of candidates) {
    if (kept.length >= max) break;
    const w = c.text.length * fontSize * 0.62 + 4;
    const h = fontSize * 1.25;
    const box: [number, number, number, number] = [c.x + 3, c.y - h / 2, c.x + 3 + w, c.y + h / 2];
    if (box[2] < 0 || box[0] > width || box[3] < 0 || box[1] > height) continue;
    const x0 = Math.floor(Math.max(box[0], 0) / bucket);
    const x1 = Math.floor(Math.max(box[2], 0) / bucket);
    const y0 = Math.floor(Math.max(box[1], 0) / bucket);
    const y1 = Math.floor(Math.max(box[3], 0) / bucket);
    let free = true;
    for (let gy = y0; gy <= y1 && free; gy++) {
      for (let gx = x0; gx <= x1 && free; gx++) {
        for (const b of grid.get(gy * columns + gx) ?? []) {
          if (box[0] < b[2] && box[2] > b[0] && box[1] < b[3] && box[3] > b[1]) {
            free = false;
            break;
          }
        }
      }
    }
    if (!free) continue;
    kept.push(c);
    for (let gy = y0; gy <= y1; gy++) {
      for (let gx = x0; gx <= x1; gx++) {
        const key = gy * columns + gx;
        const list = grid.get(key);
        if (list) list.push(box);
        else grid.set(key, [box]);
      }
    }
  }
  return kept;
}
