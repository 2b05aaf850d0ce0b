// One run's data in the browser: the tables every view shares, and per-head arrays fetched on
// demand (cached, deduplicated, at most a few requests in flight).

import type { DataSource, HeadDetails, HeadLayout, LayerFetch, LayerRows, RunDetails, SequenceTable, TokenTable } from "./types";

const MAX_IN_FLIGHT = 6;

export class RunData {
  /** occurrences of each token string in the corpus (each token counted once, not per q/k copy) */
  readonly frequency: Uint32Array;
  private readonly cache = new Map<string, Promise<unknown>>();
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  private constructor(
    readonly source: DataSource,
    readonly id: string,
    public details: RunDetails,
    readonly tokens: TokenTable,
    readonly sequences: SequenceTable,
    /** [2N] layout rows in level-of-detail order */
    readonly order: Uint32Array,
  ) {
    this.frequency = new Uint32Array(tokens.values.length);
    for (let t = 0; t < tokens.n; t++) this.frequency[tokens.token[t]]++;
  }

  static async load(source: DataSource, id: string): Promise<RunData> {
    const [details, tokens, sequences, order] = await Promise.all([
      source.run(id),
      source.tokens(id),
      source.sequences(id),
      source.lodOrder(id),
    ]);
    return new RunData(source, id, details, tokens, sequences, order);
  }

  get n(): number {
    return this.tokens.n;
  }

  get layers(): number {
    return this.details.layers;
  }

  get heads(): number {
    return this.details.heads;
  }

  /** Whether head (layer, head) has the layout `key` ("tsne.2d"). */
  has(layer: number, head: number, key: string): boolean {
    return this.available(key).has(layer * this.heads + head);
  }

  available(key: string): Set<number> {
    const cached = this.availableSets.get(key);
    if (cached) return cached;
    const set = new Set(this.details.layouts[key] ?? []);
    this.availableSets.set(key, set);
    return set;
  }

  private availableSets = new Map<string, Set<number>>();

  /**
   * Re-read which layouts exist and which are still coarse (an embedding may be running), with the
   * rest of the run's record (heads that gained layouts may have been marked by the normalisation
   * rule). Returns null when nothing changed, else the heads (by layout key) whose coarse layout was
   * replaced by its full one: what was fetched of them is stale.
   */
  async refreshLayouts(): Promise<Map<string, number[]> | null> {
    const fresh = await this.source.run(this.id);
    const before = this.details;
    this.details = { ...fresh, coarse: fresh.coarse ?? {} };
    this.availableSets.clear();
    const refined = new Map<string, number[]>();
    for (const [key, was] of Object.entries(before.coarse ?? {})) {
      const still = new Set(this.details.coarse[key] ?? []);
      const done = was.filter((index) => !still.has(index));
      if (done.length) refined.set(key, done);
    }
    const changed = refined.size > 0 || JSON.stringify(fresh.layouts) !== JSON.stringify(before.layouts);
    return changed ? refined : null;
  }

  /** Whether an embedding may still add layouts or refine coarse ones (so a viewer keeps polling). */
  get embedding(): boolean {
    const total = this.layers * this.heads;
    const coarse = Object.values(this.details.coarse ?? {}).some((heads) => heads.length > 0);
    return coarse || Object.values(this.details.layouts).some((heads) => heads.length < total);
  }

  layout(layer: number, head: number, key: string, limit?: number): Promise<HeadLayout> {
    const full = this.cache.get(`layout|${key}|${layer}|${head}|`) as Promise<HeadLayout> | undefined;
    if (full && limit) return full.then((l) => sliceLayout(l, limit));
    return this.cached(`layout|${key}|${layer}|${head}|${limit ?? ""}`, () =>
      this.source.layout(this.id, layer, head, key, { limit }),
    );
  }

  norms(layer: number, head: number, limit?: number): Promise<Float32Array> {
    const full = this.cache.get(`norms|${layer}|${head}|`) as Promise<Float32Array> | undefined;
    if (full && limit) return full.then((n) => n.subarray(0, limit));
    return this.cached(`norms|${layer}|${head}|${limit ?? ""}`, () =>
      this.source.norms(this.id, layer, head, { limit }),
    );
  }

  /** One layout of every head of a layer in one request (not cached: the Matrix View keeps the rows). */
  layerLayout(layer: number, key: string, options: LayerFetch = {}): Promise<LayerRows> {
    return this.limited(() => this.source.layerLayout(this.id, layer, key, options));
  }

  layerNorms(layer: number, options: LayerFetch = {}): Promise<LayerRows> {
    return this.limited(() => this.source.layerNorms(this.id, layer, options));
  }

  /** Hand a head's first `limit` LOD rows, assembled elsewhere, to `layout()`'s cache. */
  remember(layer: number, head: number, key: string, limit: number, layout: HeadLayout): void {
    const cacheKey = `layout|${key}|${layer}|${head}|${limit}`;
    if (!this.cache.has(cacheKey)) this.cache.set(cacheKey, Promise.resolve(layout));
  }

  /** [2N] the inverse of `order`: rank[row] = i where order[i] = row. */
  get rank(): Uint32Array {
    if (!this.rankCache) {
      this.rankCache = new Uint32Array(this.order.length);
      for (let i = 0; i < this.order.length; i++) this.rankCache[this.order[i]] = i;
    }
    return this.rankCache;
  }

  private rankCache: Uint32Array | null = null;

  head(layer: number, head: number): Promise<HeadDetails> {
    return this.cached(`head|${layer}|${head}`, () => this.source.head(this.id, layer, head));
  }

  /** Forget cached head details and layouts of `key` (after a refresh found new ones). */
  forget(prefix: string): void {
    for (const key of [...this.cache.keys()]) if (key.startsWith(prefix)) this.cache.delete(key);
  }

  private cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    let promise = this.cache.get(key) as Promise<T> | undefined;
    if (!promise) {
      promise = this.limited(load);
      this.cache.set(key, promise);
      promise.catch(() => this.cache.delete(key));
    }
    return promise;
  }

  private async limited<T>(load: () => Promise<T>): Promise<T> {
    while (this.active >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await load();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

function sliceLayout(layout: HeadLayout, limit: number): HeadLayout {
  if (layout.rows <= limit) return layout;
  return { ...layout, rows: limit, coords: layout.coords.subarray(0, limit * layout.dim) };
}
