// The DataSource behind `attentionviz serve`: JSON records and AVZ1 frames over HTTP.

import { decodeFrame, requireArray, type Frame } from "./frame";
import {
  headName,
  type DataSource,
  type FetchOptions,
  type HeadDetails,
  type Layout,
  type LayerFetch,
  type LayerRows,
  type RunDetails,
  type RunSummary,
  type SequenceTable,
  type SquareMatrix,
  type TokenTable,
} from "./types";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

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
    return this.json("runs");
  }

  run(run: string): Promise<RunDetails> {
    return this.json(`runs/${encodeURIComponent(run)}`);
  }

  layouts(run: string): Promise<Record<string, number[]>> {
    return this.json(`runs/${encodeURIComponent(run)}/layouts`);
  }

  head(run: string, layer: number, head: number): Promise<HeadDetails> {
    return this.json(`runs/${encodeURIComponent(run)}/${headName(layer, head)}`);
  }

  async tokens(run: string): Promise<TokenTable> {
    const f = await this.frame(`runs/${encodeURIComponent(run)}/tokens`);
    const optional = (name: string) => (f.arrays.get(name) as Int16Array | undefined) ?? null;
    return {
      n: Number(f.meta.n_tokens),
      token: requireArray(f, "token"),
      values: f.strings.get("token.values") ?? [],
      sequence: requireArray(f, "sequence"),
      position: requireArray(f, "position"),
      seqLen: requireArray(f, "seq_len"),
      special: requireArray(f, "special"),
      charStart: requireArray(f, "char_start"),
      charEnd: requireArray(f, "char_end"),
      patchRow: optional("patch_row"),
      patchCol: optional("patch_col"),
    };
  }

  async sequences(run: string): Promise<SequenceTable> {
    const f = await this.frame(`runs/${encodeURIComponent(run)}/sequences`);
    return {
      n: Number(f.meta.n_sequences),
      text: f.strings.get("text") ?? [],
      nTokens: requireArray(f, "n_tokens"),
      tokenStart: requireArray(f, "token_start"),
    };
  }

  async lodOrder(run: string): Promise<Uint32Array> {
    return requireArray<Uint32Array>(await this.frame(`runs/${encodeURIComponent(run)}/lod-order`), "order");
  }

  async layout(run: string, layer: number, head: number, key: string, options: FetchOptions = {}): Promise<Layout> {
    const query = options.limit ? `?order=lod&limit=${options.limit}` : "?order=lod";
    const f = await this.frame(`runs/${encodeURIComponent(run)}/${headName(layer, head)}/${key}${query}`, options.signal);
    const dim = Number(key.split(".")[1]?.[0] ?? 2);
    return {
      key,
      dim,
      rows: Number(f.meta.rows),
      coords: requireArray(f, "coords"),
      bounds: f.bounds.get("coords") ?? [],
    };
  }

  async norms(run: string, layer: number, head: number, options: FetchOptions = {}): Promise<Float32Array> {
    const query = options.limit ? `?order=lod&limit=${options.limit}` : "?order=lod";
    const f = await this.frame(`runs/${encodeURIComponent(run)}/${headName(layer, head)}/norms${query}`, options.signal);
    return requireArray<Float32Array>(f, "norms");
  }

  async layerLayout(run: string, layer: number, key: string, options: LayerFetch = {}): Promise<LayerRows> {
    return layerRows(await this.frame(`runs/${encodeURIComponent(run)}/layers.${layer}/${key}${layerQuery(options)}`, options.signal));
  }

  async layerNorms(run: string, layer: number, options: LayerFetch = {}): Promise<LayerRows> {
    return layerRows(await this.frame(`runs/${encodeURIComponent(run)}/layers.${layer}/norms${layerQuery(options)}`, options.signal));
  }

  async sequenceAttention(run: string, layer: number, head: number, sequence: number): Promise<SquareMatrix> {
    const f = await this.frame(`runs/${encodeURIComponent(run)}/${headName(layer, head)}/attention/${sequence}`);
    const valueNorms = (f.arrays.get("value_norms") as Float32Array | undefined) ?? null;
    return { n: Number(f.meta.n_tokens), values: requireArray<Float32Array>(f, "attention"), valueNorms };
  }

  async aggregateAttention(run: string, layer: number, head: number): Promise<SquareMatrix> {
    const f = await this.frame(`runs/${encodeURIComponent(run)}/${headName(layer, head)}/aggregate`);
    return { n: Number(f.meta.max_len), values: requireArray<Float32Array>(f, "attention") };
  }

  async valueNorms(run: string, layer: number, head: number, sequence: number): Promise<Float32Array> {
    const f = await this.frame(`runs/${encodeURIComponent(run)}/${headName(layer, head)}/value-norms/${sequence}`);
    return requireArray<Float32Array>(f, "value_norms");
  }

  imageUrl(run: string, sequence: number): string {
    return `${this.base}/runs/${encodeURIComponent(run)}/images/${sequence}.png`;
  }

  patchAtlasUrl(run: string): string {
    return `${this.base}/runs/${encodeURIComponent(run)}/patches.png`;
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

  private async frame(path: string, signal?: AbortSignal): Promise<Frame> {
    return decodeFrame(await (await this.fetch(path, signal)).arrayBuffer());
  }
}

function layerQuery({ start, limit, heads, tokens }: LayerFetch): string {
  const params = [];
  if (tokens) params.push(`tokens=${tokens.join(",")}`);
  else {
    if (start) params.push(`start=${start}`);
    if (limit) params.push(`limit=${limit}`);
  }
  if (heads) params.push(`heads=${heads.join(",")}`);
  return params.length ? `?${params.join("&")}` : "";
}

function layerRows(f: Frame): LayerRows {
  const heads = (f.meta.heads as number[]) ?? [];
  const values = new Map<number, Float32Array>();
  const bounds = new Map<number, [number, number][]>();
  for (const h of heads) {
    values.set(h, requireArray<Float32Array>(f, `heads.${h}`));
    bounds.set(h, f.bounds.get(`heads.${h}`) ?? []);
  }
  const tokens = f.meta.order === "tokens";
  return {
    heads,
    order: tokens ? "tokens" : "lod",
    start: Number(f.meta.start ?? 0),
    count: Number(f.meta.rows),
    rows: tokens ? requireArray<Uint32Array>(f, "rows") : null,
    values,
    bounds,
  };
}
