"""A plain-text summary of a run, for `attentionviz info` and the end of `attentionviz build`."""

from __future__ import annotations

from collections import Counter

from attentionviz.store.head_outputs import coarse_layouts
from attentionviz.store.reader import Run


def describe(run: Run) -> str:
    m = run.manifest
    info = run.info
    unit = "images" if info.kind == "image" else "sequences"
    lines = [
        f"run        {run.path}",
        f"model      {m.model.id} ({m.model.architecture}, family {m.model.family}, {m.model.dtype})",
        f"heads      {info.layers} layers x {info.heads} heads, {info.kv_heads} KV heads, head dim {info.head_dim}",
        f"corpus     {m.corpus.source} ({m.corpus.format}{', split by ' + m.corpus.split if m.corpus.split else ''})",
        f"captured   {info.n_tokens:,} tokens in {info.n_sequences:,} {unit}"
        + (", with pre-rotary q/k" if info.has_pre_rope else ""),
        f"built      {m.created} by attentionviz {m.version}",
    ]
    counts: Counter[str] = Counter()
    rough: Counter[str] = Counter()
    for head in run.heads():
        for method, dim in head.layouts():
            counts[f"{method} {dim}D"] += 1
        for method, dim in coarse_layouts(run.path, head.layer, head.head):
            rough[f"{method} {dim}D"] += 1
    total = info.layers * info.heads
    if counts:
        lines.append(
            "layouts    "
            + ", ".join(
                f"{name} {n}/{total}" + (f" ({rough[name]} still coarse)" if rough[name] else "")
                for name, n in sorted(counts.items())
            )
        )
    else:
        lines.append(f"layouts    none yet (compute them with `attentionviz embed {run.path}`)")
    lines.extend(_fidelity_lines(run))
    return "\n".join(lines)


def _fidelity_lines(run: Run) -> list[str]:
    try:
        from attentionviz.embed.fidelity import summarise
    except ImportError:
        return []
    summary = summarise(run)
    if not summary:
        return []
    return ["fidelity   " + "\n           ".join(f"{k}: {v}" for k, v in summary.items())]
