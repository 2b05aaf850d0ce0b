// What the app holds of a run in the browser. The records (RunSummary, RunDetails, HeadDetails) and
// the frames' metadata are generated from the read model (api.gen.ts); these are the decoded forms.

import type { Alignments, Comparison, HeadDetails, HeadMatch, RelatedHead, RunDetails, RunSummary, Transform } from "./api.gen";

export type { Alignments, Comparison, HeadDetails, HeadMatch, RelatedHead, RunDetails, RunSummary, Transform };

/** The token table, columnar. Row t is global token t; layout rows t (query) and N + t (key). */
export interface TokenTable {
  n: number;
  /** code into `values` for each token */
  token: Uint32Array;
  values: string[];
  sequence: Int32Array;
  position: Int32Array;
  seqLen: Int32Array;
  special: Uint8Array;
  charStart: Int32Array;
  charEnd: Int32Array;
  patchRow: Int16Array | null;
  patchCol: Int16Array | null;
}

export interface SequenceTable {
  n: number;
  text: string[];
  nTokens: Int32Array;
  tokenStart: Uint32Array;
}

/** One layout of one head: `rows` points in level-of-detail order (row i is layout row order[i]). */
export interface HeadLayout {
  key: string;
  dim: number;
  rows: number;
  /** float32 [rows, dim] */
  coords: Float32Array;
  /** per-axis [min, max] over the whole layout (all 2N rows) */
  bounds: [number, number][];
}

/** Which rows of every head of one layer to fetch in one request (`DataSource.layerLayout`). */
export interface LayerFetch {
  /** the level-of-detail rows start .. start + limit - 1 (limit: to the end) */
  start?: number;
  limit?: number;
  /** only these heads (default: every head of the layer that has the data) */
  heads?: number[];
  /** instead of a LOD slice, the query and key rows of these tokens */
  tokens?: number[];
  signal?: AbortSignal;
}

/**
 * Rows of every head of one layer. A host may answer with more rows than asked (a static export
 * ignores the query and sends every row in LOD order): read `order`, `start`, `count` and `rows`.
 */
export interface LayerRows {
  heads: number[];
  /** "lod": the LOD rows start .. start + count - 1; "tokens": the layout rows listed in `rows` */
  order: "lod" | "tokens";
  start: number;
  count: number;
  rows: Uint32Array | null;
  /** head -> float32 [count, dim] (layouts) or [count] (norms) */
  values: Map<number, Float32Array>;
  /** head -> per-axis [min, max] over the head's whole layout (all 2N rows) */
  bounds: Map<number, [number, number][]>;
}

export interface FetchOptions {
  /** send only the first `limit` rows of the level-of-detail order */
  limit?: number;
  signal?: AbortSignal;
}

/**
 * Where the app's data comes from. One implementation per host: HTTP for the server; a widget
 * host (anywidget messages) and a static export (files) plug in here.
 */
export interface DataSource {
  listRuns(): Promise<RunSummary[]>;
  run(run: string): Promise<RunDetails>;
  head(run: string, layer: number, head: number): Promise<HeadDetails>;
  tokens(run: string): Promise<TokenTable>;
  sequences(run: string): Promise<SequenceTable>;
  /** [2N] layout rows in level-of-detail order (the same for every head) */
  lodOrder(run: string): Promise<Uint32Array>;
  /** rows in level-of-detail order */
  layout(run: string, layer: number, head: number, key: string, options?: FetchOptions): Promise<HeadLayout>;
  /** [rows] query-then-key vector norms, in level-of-detail order */
  norms(run: string, layer: number, head: number, options?: FetchOptions): Promise<Float32Array>;
  /** one layout of every head of a layer, in one request (the Matrix View's) */
  layerLayout(run: string, layer: number, key: string, options?: LayerFetch): Promise<LayerRows>;
  /** the q/k norms of every head of a layer, rows chosen as in `layerLayout` */
  layerNorms(run: string, layer: number, options?: LayerFetch): Promise<LayerRows>;
  /** the model's own attention for one sequence: row-major [n, n] (rows: queries) */
  sequenceAttention(run: string, layer: number, head: number, sequence: number): Promise<SquareMatrix>;
  /** query rows [start, start + limit) of it (a static export answers with every row: read `rowStart`, `nRows`) */
  attentionRows(run: string, layer: number, head: number, sequence: number, start: number, limit: number): Promise<AttentionRows>;
  /** the head's position x position attention averaged over the corpus: [n, n], n the longest sequence */
  aggregateAttention(run: string, layer: number, head: number): Promise<SquareMatrix>;
  /** [n] value-vector norms of one sequence's tokens */
  valueNorms(run: string, layer: number, head: number, sequence: number): Promise<Float32Array>;
  /** how every head changed from `run` to `other` (one architecture, shared sequences) */
  comparison(run: string, other: string): Promise<Comparison>;
  /** per head: the transform laying `other`'s head (layer, head) over `run`'s, for one layout */
  compareAlignments(run: string, other: string, layout: string): Promise<Alignments>;
  /** per head: the transforms laying it over the head above it and the head left of it */
  runAlignments(run: string, layout: string): Promise<Alignments>;
  /** an image run's image as the model saw it: a URL an <img> or <image> can show */
  imageUrl(run: string, sequence: number): string;
  /** an image run's patch atlas: token t's 16 x 16 tile at column t % C, row t // C (C = width / 16) */
  patchAtlasUrl(run: string): string;
  /** the head atlas (src/atlas/): every head's metrics, the head map, related heads, ... */
  metrics(run: string): Promise<MetricsTable>;
  headMap(method: string): Promise<HeadMapData>;
  related(run: string, layer: number, head: number): Promise<RelatedHead[]>;
  /** [N] keys holding 90% of each token's query's attention, token order */
  keysNeeded(run: string, layer: number, head: number): Promise<Uint16Array>;
  valueLayout(run: string, layer: number, head: number, key: string): Promise<ValueLayout>;
  /** the head's attention on probe sequence `seq`, with the probe's tokens */
  probe(run: string, layer: number, head: number, seq: number): Promise<ProbeView>;
}

/** Every head's metrics: `values` row-major [layers * heads, columns], NaN where missing. */
export interface MetricsTable {
  layers: number;
  heads: number;
  columns: string[];
  values: Float32Array;
}

/** The head map: one point per head of every run shown. */
export interface HeadMapData {
  method: string;
  runs: string[];
  columns: string[];
  n: number;
  run: Int32Array;
  layer: Int32Array;
  head: Int32Array;
  /** [n, 2] */
  coords: Float32Array;
  /** [n, columns] */
  values: Float32Array;
}

/** A KV group's value vectors laid out: [n, 2] token order, and each token's value norm. */
export interface ValueLayout {
  key: string;
  n: number;
  coords: Float32Array;
  bounds: [number, number][];
  norms: Float32Array;
}

/** One probe sequence: its tokens, which are special, and the head's attention on it [n, n]. */
export interface ProbeView {
  sequence: number;
  text: string;
  tokens: string[];
  special: number[];
  attention: Float32Array;
  valueNorms: Float32Array | null;
}

/** Rows rowStart..rowStart+nRows of a sequence's [n, n] attention: row-major [nRows, n]. */
export interface AttentionRows {
  n: number;
  rowStart: number;
  nRows: number;
  values: Float32Array;
  valueNorms?: Float32Array | null;
}

/** A row-major [n, n] matrix. */
export interface SquareMatrix {
  n: number;
  values: Float32Array;
  /** a sequence's [n] value-vector norms, where its attention frame carries them */
  valueNorms?: Float32Array | null;
}

export function headName(layer: number, head: number): string {
  return `layers.${layer}.heads.${head}`;
}
