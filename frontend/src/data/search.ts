// Token search: case-insensitive, exact by default, substring or regular expression when asked.
// Every match counts, including the token at index 0 (the original dropped it).

import type { TokenTable } from "./types";

export type MatchMode = "exact" | "substring" | "regex";

export interface SearchResult {
  /** 1 for every token whose text matches */
  hits: Uint8Array;
  tokens: number;
  sequences: number;
  /** the matching token texts, most frequent first (at most 8) */
  examples: string[];
}

export function searchTokens(tokens: TokenTable, query: string, mode: MatchMode): SearchResult {
  const needle = query.trim();
  let test: (value: string) => boolean;
  if (mode === "regex") {
    const re = new RegExp(needle, "iu"); // throws on a malformed pattern: the caller shows the message
    test = (v) => re.test(v);
  } else {
    const lower = needle.toLocaleLowerCase();
    test = mode === "substring" ? (v) => v.toLocaleLowerCase().includes(lower) : (v) => v.toLocaleLowerCase() === lower;
  }
  const matchingValue = new Uint8Array(tokens.values.length);
  tokens.values.forEach((value, code) => {
    if (test(value)) matchingValue[code] = 1;
  });
  const hits = new Uint8Array(tokens.n);
  const counts = new Map<number, number>();
  const sequences = new Set<number>();
  let count = 0;
  for (let t = 0; t < tokens.n; t++) {
    const code = tokens.token[t];
    if (matchingValue[code]) {
      hits[t] = 1;
      count++;
      sequences.add(tokens.sequence[t]);
      counts.set(code, (counts.get(code) ?? 0) + 1);
    }
  }
  const examples = [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([code]) => tokens.values[code]);
  return { hits, tokens: count, sequences: sequences.size, examples };
}
