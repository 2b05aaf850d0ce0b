// The DataSource behind `attentionviz serve` (and, with another transport, the widget and the
// single-file export): JSON records and AVZ1 frames, at the URLs the generated route builders give.

import { routes, type Alignments, type Comparison, type Frames, type HeadDetails, type RunDetails, type RunSummary } from "./api.gen";
import { decodeFrame, TypedFrame } from "./frame";
import { parseLayout } from "./layout";
import type {
  AttentionRows,
  DataSource,
  FetchOptions,
  HeadLayout,
  HeadMapData,
  LayerFetch,
  LayerRows,
  MetricsTable,
  ProbeView,
  RelatedHead,
  SequenceTable,
  SquareMatrix,
  TokenTable,
  ValueLayout,
} from "./types";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type FrameOf<R extends keyof Frames> = TypedFrame<Frames[R]["meta"], Frames[R]["buffers"]>;

export class HttpDataSource implements DataSource {
  /**
   * `base` is the API root, e.g. "api" (relative to the page) or "http://127.0.0.1:8000/api";
   * `transport` answers a URL as `fetch` would (the embedded hosts pass their own: hosts/embed.ts).
   */
  constructor(
    private readonly base = "api",
    private readonly transport: (url: string, init?: RequestInit) => Promise<Response> = (url, init) => fetch(url, init),
  ) {}

  listRuns(): Promise<RunSummary[]> {
    return this.json(routes.listRuns());
  }

  run(run: string): Promise<RunDetails> {
    return this.json(routes.runDetails({ run }));
  }

  head(run: string, layer: number, head: number): Promise<HeadDetails> {
    return this.json(routes.headDetails({ run, layer, head }));
  }

  async tokens(run: string): Promise<TokenTable> {
    const f = await this.frame<"tokens">(routes.tokens({ run }));
    return {
      n: f.meta.n_tokens,
      token: f.get("token"),
      values: f.get("token.values"),
      sequence: f.get("sequence"),
      position: f.get("position"),
      seqLen: f.get("seq_len"),
      special: f.get("special"),
      charStart: f.get("char_start"),
      charEnd: f.get("char_end"),
      patchRow: f.optional("patch_row"),
      patchCol: f.optional("patch_col"),
    };
  }

  async sequences(run: string): Promise<SequenceTable> {
    const f = await this.frame<"sequences">(routes.sequences({ run }));
    return {
      n: f.meta.n_sequences,
      text: f.get("text"),
      nTokens: f.get("n_tokens"),
      tokenStart: f.get("token_start"),
    };
  }

  async lodOrder(run: string): Promise<Uint32Array> {
    return (await this.frame<"lodOrder">(routes.lodOrder({ run }))).get("order");
  }

  async layout(run: string, layer: number, head: number, key: string, options: FetchOptions = {}): Promise<HeadLayout> {
    const url = routes.headLayout({ run, layer, head, layout: key }, { order: "lod", limit: options.limit });
    const f = await this.frame<"headLayout">(url, options.signal);
    return {
      key,
      dim: parseLayout(key)?.dim ?? 2,
      rows: f.meta.rows,
      coords: f.get("coords"),
      bounds: f.bounds("coords"),
    };
  }

  async norms(run: string, layer: number, head: number, options: FetchOptions = {}): Promise<Float32Array> {
    const url = routes.headNorms({ run, layer, head }, { order: "lod", limit: options.limit });
    return (await this.frame<"headNorms">(url, options.signal)).get("norms");
  }

  async layerLayout(run: string, layer: number, key: string, options: LayerFetch = {}): Promise<LayerRows> {
    const url = routes.layerLayout({ run, layer, layout: key }, layerQuery(options));
    return layerRows(await this.frame<"layerLayout">(url, options.signal));
  }

  async layerNorms(run: string, layer: number, options: LayerFetch = {}): Promise<LayerRows> {
    return layerRows(await this.frame<"layerNorms">(routes.layerNorms({ run, layer }, layerQuery(options)), options.signal));
  }

  async sequenceAttention(run: string, layer: number, head: number, sequence: number): Promise<SquareMatrix> {
    const f = await this.frame<"sequenceAttention">(routes.sequenceAttention({ run, layer, head, seq: sequence }));
    return { n: f.meta.n_tokens, values: f.get("attention"), valueNorms: f.optional("value_norms") };
  }

  async attentionRows(run: string, layer: number, head: number, sequence: number, start: number, limit: number): Promise<AttentionRows> {
    const f = await this.frame<"sequenceAttention">(routes.sequenceAttention({ run, layer, head, seq: sequence }, { start, limit }));
    const m = f.meta;
    return { n: m.n_tokens, rowStart: m.row_start, nRows: m.n_rows, values: f.get("attention"), valueNorms: f.optional("value_norms") };
  }

  async aggregateAttention(run: string, layer: number, head: number): Promise<SquareMatrix> {
    const f = await this.frame<"aggregate">(routes.aggregate({ run, layer, head }));
    return { n: f.meta.max_len, values: f.get("attention") };
  }

  async valueNorms(run: string, layer: number, head: number, sequence: number): Promise<Float32Array> {
    return (await this.frame<"valueNorms">(routes.valueNorms({ run, layer, head, seq: sequence }))).get("value_norms");
  }

  comparison(run: string, other: string): Promise<Comparison> {
    return this.json(routes.comparison({ run, other }));
  }

  compareAlignments(run: string, other: string, layout: string): Promise<Alignments> {
    return this.json(routes.compareAlignments({ run, other, layout }));
  }

  runAlignments(run: string, layout: string): Promise<Alignments> {
    return this.json(routes.runAlignments({ run, layout }));
  }

  imageUrl(run: string, sequence: number): string {
    return `${this.base}/${routes.image({ run, seq: sequence })}`;
  }

  patchAtlasUrl(run: string): string {
    return `${this.base}/${routes.patches({ run })}`;
  }

  async metrics(run: string): Promise<MetricsTable> {
    const f = await this.frame<"runMetrics">(routes.runMetrics({ run }));
    return { layers: f.meta.layers, heads: f.meta.heads, columns: f.meta.columns, values: f.get("values") };
  }

  async headMap(method: string): Promise<HeadMapData> {
    const f = await this.frame<"headMap">(routes.headMap({ map: method }));
    const { meta } = f;
    return { ...meta, run: f.get("run"), layer: f.get("layer"), head: f.get("head"), coords: f.get("coords"), values: f.get("values") };
  }

  related(run: string, layer: number, head: number): Promise<RelatedHead[]> {
    return this.json(routes.relatedHeads({ run, layer, head }));
  }

  async keysNeeded(run: string, layer: number, head: number): Promise<Uint16Array> {
    return (await this.frame<"keysNeeded">(routes.keysNeeded({ run, layer, head }))).get("keys");
  }

  async valueLayout(run: string, layer: number, head: number, key: string): Promise<ValueLayout> {
    const f = await this.frame<"valueLayout">(routes.valueLayout({ run, layer, head, layout: key }));
    return { key, n: f.meta.rows, coords: f.get("coords"), bounds: f.bounds("coords"), norms: f.get("norms") };
  }

  async probe(run: string, layer: number, head: number, seq: number): Promise<ProbeView> {
    const [tokens, sequences, attention] = await Promise.all([
      this.frame<"probeTokens">(routes.probeTokens({ run })),
      this.frame<"probeSequences">(routes.probeSequences({ run })),
      this.frame<"probeAttention">(routes.probeAttention({ run, layer, head, seq })),
    ]);
    const start = sequences.get("token_start")[seq];
    const n = sequences.get("n_tokens")[seq];
    const values = tokens.get("token.values");
    const codes = tokens.get("token").subarray(start, start + n);
    return {
      sequence: seq,
      text: sequences.get("text")[seq],
      tokens: Array.from(codes, (c) => values[c]),
      special: Array.from(tokens.get("special").subarray(start, start + n)),
      attention: attention.get("attention"),
      valueNorms: attention.optional("value_norms"),
    };
  }

  private async fetch(path: string, signal?: AbortSignal): Promise<Response> {
    const response = await this.transport(`${this.base}/${path}`, { signal });
    if (!response.ok) {
      let detail = `${response.status} ${response.statusText}`;
      try {
        detail = ((await response.json()) as { detail?: string }).detail ?? detail;
      } catch {
        // not JSON: keep the status line
      }
      throw new HttpError(response.status, detail);
    }
    return response;
  }

  private async json<T>(path: string): Promise<T> {
    return (await (await this.fetch(path)).json()) as T;
  }

  private async frame<R extends keyof Frames>(path: string, signal?: AbortSignal): Promise<FrameOf<R>> {
    return new TypedFrame(decodeFrame(await (await this.fetch(path, signal)).arrayBuffer()));
  }
}

/** A token list, or a LOD slice (start is left out at 0); `heads` narrows either. */
function layerQuery({ start, limit, heads, tokens }: LayerFetch): { start?: number; limit?: number; heads?: number[]; tokens?: number[] } {
  return tokens ? { tokens, heads } : { start: start || undefined, limit: limit || undefined, heads };
}

function layerRows(f: FrameOf<"layerLayout" | "layerNorms">): LayerRows {
  const heads = f.meta.heads;
  const values = new Map<number, Float32Array>();
  const bounds = new Map<number, [number, number][]>();
  for (const h of heads) {
    values.set(h, f.get(`heads.${h}`));
    bounds.set(h, f.bounds(`heads.${h}`));
  }
  const tokens = f.meta.order === "tokens";
  return {
    heads,
    order: tokens ? "tokens" : "lod",
    start: f.meta.start,
    count: f.meta.rows,
    rows: tokens ? f.get("rows") : null,
    values,
    bounds,
  };
}
