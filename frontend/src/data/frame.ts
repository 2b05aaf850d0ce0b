// Decoder for AVZ1 frames, the binary form every array travels in (see attentionviz/server/frames.py):
//   "AVZ1" | uint32 LE header length H | JSON header (H bytes) | buffers, each at an 8-byte aligned offset.

export type NumericArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;

interface BufferEntry {
  name: string;
  dtype: string;
  shape: number[];
  offset: number;
  length: number;
  bounds?: [number, number][];
}

export interface Frame {
  meta: Record<string, unknown>;
  arrays: Map<string, NumericArray>;
  strings: Map<string, string[]>;
  shapes: Map<string, number[]>;
  /** Per-column [min, max] of quantised columns (already applied to their Float32Array). */
  bounds: Map<string, [number, number][]>;
}

const QMAX = 65535;
const CONSTRUCTORS: Record<string, new (buffer: ArrayBuffer, offset: number, length: number) => NumericArray> = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  float64: Float64Array,
};

export function decodeFrame(buffer: ArrayBuffer): Frame {
  const bytes = new Uint8Array(buffer);
  const magic = String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]);
  if (magic !== "AVZ1") throw new Error("not an attentionviz frame (bad magic)");
  const headerLength = new DataView(buffer).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as {
    meta: Record<string, unknown>;
    buffers: BufferEntry[];
  };
  const body = 8 + headerLength;
  const frame: Frame = { meta: header.meta, arrays: new Map(), strings: new Map(), shapes: new Map(), bounds: new Map() };
  const utf8 = new Map<string, Uint8Array>();
  for (const entry of header.buffers) {
    frame.shapes.set(entry.name, entry.shape);
    if (entry.dtype === "utf8") {
      utf8.set(entry.name, bytes.subarray(body + entry.offset, body + entry.offset + entry.length));
      continue;
    }
    const Ctor = CONSTRUCTORS[entry.dtype];
    if (!Ctor) throw new Error(`unsupported dtype ${entry.dtype} in frame`);
    const count = entry.length / (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    const array = new Ctor(buffer, body + entry.offset, count);
    if (entry.bounds) {
      frame.arrays.set(entry.name, dequantize(array as Uint16Array, entry.bounds));
      frame.bounds.set(entry.name, entry.bounds);
    } else {
      frame.arrays.set(entry.name, array);
    }
  }
  const decoder = new TextDecoder();
  for (const [name, data] of utf8) {
    const offsets = frame.arrays.get(`${name}.offsets`);
    if (!offsets) throw new Error(`string column ${name} has no offsets`);
    const values: string[] = new Array(offsets.length - 1);
    for (let i = 0; i < values.length; i++) values[i] = decoder.decode(data.subarray(offsets[i], offsets[i + 1]));
    frame.strings.set(name, values);
    frame.arrays.delete(`${name}.offsets`);
  }
  return frame;
}

/** uint16 [n, d] over per-column bounds -> float32 [n, d]. */
export function dequantize(q: Uint16Array, bounds: [number, number][]): Float32Array {
  const d = bounds.length;
  const out = new Float32Array(q.length);
  for (let j = 0; j < d; j++) {
    const [low, high] = bounds[j];
    const step = (high - low) / QMAX;
    for (let i = j; i < q.length; i += d) out[i] = low + q[i] * step;
  }
  return out;
}

export function requireArray<T extends NumericArray>(frame: Frame, name: string): T {
  const array = frame.arrays.get(name);
  if (!array) throw new Error(`frame has no ${name}`);
  return array as T;
}

/** A decoded frame whose metadata and buffers are those its route declares (api.gen.ts `Frames`). */
export class TypedFrame<Meta, Buffers> {
  constructor(readonly frame: Frame) {}

  get meta(): Meta {
    return this.frame.meta as Meta;
  }

  /** A buffer the frame must hold (a string column comes back as string[]). */
  get<K extends keyof Buffers & string>(name: K): Buffers[K] {
    const value = this.optional(name);
    if (value === null) throw new Error(`frame has no ${name}`);
    return value;
  }

  /** A buffer that only some runs have (image runs' patch rows, value norms), or null. */
  optional<K extends keyof Buffers & string>(name: K): Buffers[K] | null {
    const value = this.frame.strings.get(name) ?? this.frame.arrays.get(name);
    return (value as Buffers[K] | undefined) ?? null;
  }

  /** A quantised buffer's per-column [min, max]. */
  bounds(name: keyof Buffers & string): [number, number][] {
    return this.frame.bounds.get(name) ?? [];
  }
}
