"""Synthetic runs for tests, benchmarks and demos.

`make_synthetic_run(out, layers=2, heads=3, tokens=200)` writes a valid run folder without a
model: random but structured queries and keys (their attention is softmax(q.k / sqrt(d)), derived
as for any run), the aggregate of that attention, a token table of made-up sentences, and layouts
that look like the clusters a real head produces (grouped by position and by token), in any size,
in seconds. Nothing here is a claim about any model. `write_synthetic_run(..., schema=1)` writes a
run as attentionviz wrote them before attention was derived (stored per sequence, with
`attn_offset`), for the tests of `attentionviz upgrade`.

    from tests.support.synthetic import make_synthetic_run
    run = make_synthetic_run(tmp_path / "run", layers=12, heads=12, tokens=5000,
                             layouts=(("pca", 2), ("tsne", 2), ("pca", 3)))
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attentionviz.hashing import sha256_file
from attentionviz.layouts import Layout
from attentionviz.store import head_outputs, names
from attentionviz.store.arrays import aggregate_positions
from attentionviz.store.atomic import write_npy
from attentionviz.store.manifest import CorpusInfo, LayerInfo, Manifest, ModelInfo, save_manifest
from attentionviz.store.recompute import attention_from_qk
from attentionviz.store.tables import SEQUENCE_SCHEMA, TOKEN_SCHEMA, empty_columns

if TYPE_CHECKING:
    from attentionviz.store.reader import Run

log = logging.getLogger(__name__)

_TEXT = (
    "the cat sat on a mat while april rain fell over quiet hills and rivers ran to the sea "
    "people walked through old cities with bright lights music played late into night "
    "scientists measured stars planets moons and distant galaxies using large telescopes "
    "history records kings queens wars treaties trade routes and ancient empires"
)
_WORDS = tuple(_TEXT.split())
_PUNCT = (".", ",", "!", "?", ";")
DEFAULT_LAYOUTS: tuple[tuple[str, int], ...] = (("pca", 2), ("tsne", 2), ("umap", 2), ("pca", 3))


def make_synthetic_run(out: str | Path, **settings: Any) -> Run:
    """`write_synthetic_run(out, **settings)`, then open the run."""
    from attentionviz.api import open as open_run

    return open_run(write_synthetic_run(out, **settings))


def write_synthetic_run(
    out: str | Path,
    *,
    layers: int = 2,
    heads: int = 3,
    tokens: int = 200,
    head_dim: int = 8,
    kv_heads: int | None = None,
    seq_len: tuple[int, int] = (6, 18),
    layouts: Sequence[tuple[str, int]] = DEFAULT_LAYOUTS,
    metrics: bool = True,
    untranslated: Sequence[tuple[int, int]] = (),
    seed: int = 0,
    schema: int = names.SCHEMA_VERSION,
    probes: bool = False,
    values: bool = False,
) -> Path:
    """Write a synthetic run folder at `out`; returns its path.

    `tokens` is the number of tokens N (each head's layouts then hold 2N points: queries, keys).
    `layouts` lists the (method, dim) pairs written for every head; pass fewer to mimic a run
    whose embedding is still in progress. `kv_heads` < `heads` gives grouped-query attention.
    Each layout records the automatic rule's normalisation: keys translated, except for the
    (layer, head) pairs in `untranslated`.
    `schema=1` writes a run as attentionviz wrote them when attention was stored.
    `probes` adds a probes run (`RUN/probes/`, four sequences sourced `probe:induction:i`);
    `values` adds value vectors and a PCA value layout per KV head (as `--values` does).
    """
    out = Path(out)
    rng = np.random.default_rng(seed)
    kv_heads = kv_heads or heads
    if heads % kv_heads:
        raise ValueError(f"heads ({heads}) must be a multiple of kv_heads ({kv_heads})")
    out.mkdir(parents=True, exist_ok=True)

    lengths = _sequence_lengths(rng, tokens, seq_len)
    token_table, sequence_table = _tables(rng, lengths, schema=schema)
    token_table.to_parquet(out / names.TOKENS, index=False)
    sequence_table.to_parquet(out / names.SEQUENCES, index=False)

    positions = token_table["position"].to_numpy()
    token_codes = token_table["token_id"].to_numpy()
    arrays: dict[str, dict[str, Any]] = {}
    layer_info = LayerInfo(scaling=float(head_dim) ** -0.5, causal=False)
    positions_kept = aggregate_positions(max(lengths))
    for layer in range(layers):
        q, k = _queries_keys(rng, positions, token_codes, heads=heads, kv_heads=kv_heads, head_dim=head_dim)
        kv_map = np.arange(heads) // (heads // kv_heads)
        v_norm = rng.gamma(4.0, 0.5, size=(kv_heads, tokens)).astype(np.float32)  # [n_kv, N]
        last = (
            ("attention", _attention(q, k[kv_map], lengths))  # [n_heads, sum len**2]
            if schema == 1
            else ("aggregate", _aggregate(q, k[kv_map], lengths, layer_info, positions_kept))
        )
        kinds = [("q", q), ("k", k), ("v_norm", v_norm), last]
        if values:
            v = rng.normal(size=(kv_heads, tokens, head_dim)).astype(np.float32)  # [n_kv, N, d]
            kinds.append(("v", v))
            _write_value_layouts(out, layer, v)
        for kind, array in kinds:
            name = names.array_name(layer, kind)
            path = names.array_path(out, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_npy(path, array)
            arrays[name] = {
                "shape": list(array.shape),
                "dtype": "float32",
                "sha256": sha256_file(path),
            }
        for head in range(heads):
            _write_head(
                out,
                rng,
                layer,
                head,
                positions,
                token_codes,
                layouts=layouts,
                metrics=metrics,
                translate=(layer, head) not in set(untranslated),
            )

    save_manifest(
        out,
        Manifest(
            kind="text",
            model=ModelInfo(
                id="synthetic",
                source="in-memory",
                architecture="SyntheticModel",
                family="synthetic",
                fingerprint=f"seed-{seed}",
                dtype="float32",
            ),
            corpus=CorpusInfo(
                source="synthetic",
                format="in-memory",
                fingerprint=f"seed-{seed}",
                split="sentence",
                n_documents=len(lengths),
            ),
            n_layers=layers,
            n_heads=heads,
            n_kv_heads=kv_heads,
            head_dim=head_dim,
            kv_map=tuple(int(x) for x in np.arange(heads) // (heads // kv_heads)),
            layers=(layer_info,) * layers,
            n_tokens=tokens,
            n_sequences=len(lengths),
            context_length=int(max(lengths)),
            settings={"synthetic": True, "seed": seed},
            arrays=arrays,
            version="synthetic",
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            special_tokens=("[CLS]", "[SEP]"),
            schema_version=schema,
            aggregate_positions=0 if schema == 1 else positions_kept,
        ),
    )
    if probes:
        _write_probes(out, layers=layers, heads=heads, head_dim=head_dim, kv_heads=kv_heads, seed=seed)
    log.info("wrote synthetic run %s: %d layers x %d heads, %d tokens", out, layers, heads, tokens)
    return out


def _write_probes(out: Path, *, layers: int, heads: int, head_dim: int, kv_heads: int, seed: int) -> None:
    """A nested synthetic run of four 21-token sequences marked as induction probes."""
    import pandas as pd

    from attentionviz.capture.probes import PROBES_DIR

    folder = out / PROBES_DIR
    write_synthetic_run(
        folder,
        layers=layers,
        heads=heads,
        tokens=84,
        head_dim=head_dim,
        kv_heads=kv_heads,
        seq_len=(21, 21),
        layouts=(),
        metrics=False,
        seed=seed + 1,
    )
    table = pd.read_parquet(folder / names.SEQUENCES)
    table["source"] = [f"probe:induction:{i}" for i in range(len(table))]
    table.to_parquet(folder / names.SEQUENCES, index=False)


def _write_value_layouts(out: Path, layer: int, v: np.ndarray) -> None:
    from attentionviz.analysis.values import value_layout_path
    from attentionviz.embed.reducers.pca import pca

    for kv_head, vectors in enumerate(v):
        path = value_layout_path(out, layer, kv_head, Layout("pca", 2))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_npy(path, pca(vectors, 2))


def add_synthetic_layout(run_dir: str | Path, method: str, dim: int, *, seed: int = 1) -> None:
    """Add one more layout to every head of a synthetic run (as a running `embed` would)."""
    import pandas as pd

    run_dir = Path(run_dir)
    table = pd.read_parquet(run_dir / names.TOKENS, columns=["position", "token_id"])
    from attentionviz.store.manifest import load_manifest

    manifest = load_manifest(run_dir)
    rng = np.random.default_rng(seed)
    for layer in range(manifest.n_layers):
        for head in range(manifest.n_heads):
            coords = _layout(rng, table["position"].to_numpy(), table["token_id"].to_numpy(), dim)
            head_outputs.save_layout(run_dir, layer, head, Layout(method, dim), coords, {"synthetic": True})


def _sequence_lengths(rng: np.random.Generator, tokens: int, seq_len: tuple[int, int]) -> list[int]:
    lengths: list[int] = []
    left = tokens
    low, high = max(seq_len[0], 3), max(seq_len[1], seq_len[0], 3)
    while left > 0:
        n = min(int(rng.integers(low, high + 1)), left)
        lengths.append(n)
        left -= n
    if lengths[-1] < 3 and len(lengths) > 1:  # fold a tiny tail into the previous sequence
        tail = lengths.pop()  # (not `lengths[-2] += lengths.pop()`: its target is indexed before the pop)
        lengths[-1] += tail
    return lengths


def _tables(rng: np.random.Generator, lengths: list[int], *, schema: int) -> tuple[Any, Any]:
    import pandas as pd

    vocab = ["[CLS]", "[SEP]", *_PUNCT, *_WORDS]
    vocab = list(dict.fromkeys(vocab))
    word_ids = [vocab.index(w) for w in _WORDS]
    punct_ids = [vocab.index(p) for p in _PUNCT]
    rows = empty_columns(TOKEN_SCHEMA)
    seqs = empty_columns({**SEQUENCE_SCHEMA, "attn_offset": "int64"} if schema == 1 else SEQUENCE_SCHEMA)
    start = 0
    offset = 0
    for s, n in enumerate(lengths):
        ids = [0]
        for i in range(n - 2):
            last = i == n - 3
            ids.append(
                int(rng.choice(punct_ids)) if last or rng.random() < 0.08 else int(rng.choice(word_ids))
            )
        ids.append(1)
        ids = ids[:n]
        text = ""
        spans: list[tuple[int, int]] = []
        for tid in ids:
            word = vocab[tid]
            if tid in (0, 1):
                spans.append((-1, -1))
                continue
            if text and tid not in punct_ids:
                text += " "
            spans.append((len(text), len(text) + len(word)))
            text += word
        for pos, (tid, span) in enumerate(zip(ids, spans, strict=True)):
            rows["token"].append(vocab[tid])
            rows["piece"].append(vocab[tid])
            rows["token_id"].append(tid)
            rows["sequence"].append(s)
            rows["position"].append(pos)
            rows["seq_len"].append(n)
            rows["special"].append(tid in (0, 1))
            rows["char_start"].append(span[0])
            rows["char_end"].append(span[1])
            rows["window"].append(0)
            rows["patch_row"].append(-1)
            rows["patch_col"].append(-1)
        for key, value in (
            ("sequence", s),
            ("document", s),
            ("window", 0),
            ("n_tokens", n),
            ("token_start", start),
            ("attn_offset", offset),
            ("text", text),
            ("source", "synthetic"),
        ):
            if key in seqs:
                seqs[key].append(value)
        start += n
        offset += n * n
    dtypes = {
        "token_id": "int32",
        "sequence": "int32",
        "position": "int32",
        "seq_len": "int32",
        "char_start": "int32",
        "char_end": "int32",
        "window": "int32",
        "patch_row": "int16",
        "patch_col": "int16",
    }
    token_table = pd.DataFrame(rows).astype(dtypes)
    sequence_table = pd.DataFrame(seqs).astype(
        {
            "sequence": "int32",
            "document": "int32",
            "window": "int32",
            "n_tokens": "int32",
            "token_start": "int64",
        }
    )
    return token_table, sequence_table


def _queries_keys(
    rng: np.random.Generator,
    positions: np.ndarray,
    token_codes: np.ndarray,
    *,
    heads: int,
    kv_heads: int,
    head_dim: int,
) -> tuple[np.ndarray, np.ndarray]:
    n = len(positions)
    pos_basis = rng.normal(size=(heads, 8, head_dim)).astype(np.float32)
    tok_basis = rng.normal(size=(heads, 64, head_dim)).astype(np.float32)
    q = pos_basis[:, np.minimum(positions, 7)] + tok_basis[:, token_codes % 64]  # [n_heads, N, d]
    q += 0.3 * rng.normal(size=q.shape).astype(np.float32)
    group = heads // kv_heads
    k = q.reshape(kv_heads, group, n, head_dim).mean(axis=1)  # [n_kv, N, d]
    k = k + 0.5 * rng.normal(size=k.shape).astype(np.float32) + 1.0
    return q.astype(np.float32), k.astype(np.float32)


def _attention(q: np.ndarray, k: np.ndarray, lengths: list[int]) -> np.ndarray:
    """Softmax(q k^T / sqrt(d)) per sequence, flattened row-major: [n_heads, sum len**2]."""
    heads, _, dim = q.shape
    out = np.empty((heads, sum(n * n for n in lengths)), dtype=np.float32)
    start = offset = 0
    for n in lengths:
        logits = np.einsum("hid,hjd->hij", q[:, start : start + n], k[:, start : start + n]) / np.sqrt(dim)
        logits -= logits.max(axis=-1, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=-1, keepdims=True)  # [n_heads, n, n]
        out[:, offset : offset + n * n] = weights.reshape(heads, n * n)
        start += n
        offset += n * n
    return out


def _aggregate(
    q: np.ndarray, k: np.ndarray, lengths: list[int], layer: LayerInfo, positions: int
) -> np.ndarray:
    """[n_heads, P, P] mean attention per position pair over the sequences holding both."""
    from attentionviz.store.recompute import aggregate_counts

    sums = np.zeros((q.shape[0], positions, positions))
    start = 0
    for n in lengths:
        m = min(n, positions)
        sums[:, :m, :m] += attention_from_qk(q[:, start : start + m], k[:, start : start + n], layer)[
            :, :, :m
        ]
        start += n
    counts = aggregate_counts(np.asarray(lengths), positions)
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0).astype(np.float32)


def _layout(rng: np.random.Generator, positions: np.ndarray, token_codes: np.ndarray, dim: int) -> np.ndarray:
    """[2N, dim]: queries and keys around shared cluster centres (by position and by token)."""
    n = len(positions)
    n_pos = 6
    centres_pos = rng.normal(scale=6.0, size=(n_pos, dim))
    centres_tok = rng.normal(scale=3.0, size=(97, dim))
    base = centres_pos[np.minimum(positions, n_pos - 1)] + centres_tok[token_codes % 97]  # [N, dim]
    stretch = np.array([1.0, 0.6, 0.8][:dim]) * rng.uniform(0.5, 1.5)
    q = (base + rng.normal(scale=0.8, size=(n, dim))) * stretch
    k = (base + rng.normal(scale=0.8, size=(n, dim)) + rng.normal(scale=1.5, size=dim)) * stretch
    return np.concatenate([q, k]).astype(np.float32)


def _write_head(
    out: Path,
    rng: np.random.Generator,
    layer: int,
    head: int,
    positions: np.ndarray,
    token_codes: np.ndarray,
    *,
    layouts: Sequence[tuple[str, int]],
    metrics: bool,
    translate: bool = True,
) -> None:
    normalisation = {
        "translate": translate,
        "scale": False,
        "c": 1.0,
        "rule": "auto: translate keys when that keeps 80% of the raw keys' cosine rho",
        "rho_raw": -0.9,
        "rho_translated": -0.8 if translate else -0.4,
    }
    for method, dim in layouts:
        coords = _layout(rng, positions, token_codes, dim)
        meta = {"synthetic": True, "seconds": 0.0, "normalisation": normalisation}
        head_outputs.save_layout(out, layer, head, Layout(method, dim), coords, meta)
    if metrics:
        head_outputs.save_head_json(
            out,
            layer,
            head,
            "metrics",
            {
                "entropy": round(float(rng.uniform(0.5, 3.0)), 4),
                "mean_distance": round(float(rng.uniform(0.0, 5.0)), 4),
            },
        )
        head_outputs.save_head_json(
            out,
            layer,
            head,
            "fidelity",
            {
                "original.cosine": round(float(rng.uniform(-0.95, -0.6)), 4),
                **{f"{m}.{d}d": round(float(rng.uniform(-0.9, -0.4)), 4) for m, d in layouts},
            },
        )
