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
    lines.extend(_atlas_lines(run))
    return "\n".join(lines)


def _atlas_lines(run: Run) -> list[str]:
    """The strongest head by each probe score and by importance, where the run has them."""
    from attentionviz.analysis.pipeline import probes_of
    from attentionviz.analysis.table import metrics_table

    table = metrics_table(run)
    found = []
    for column in ("previous", "induction", "duplicate", "importance"):
        if column in table and table[column].notna().any():
            at = int(table[column].fillna(-float("inf")).to_numpy().argmax())
            layer, head, value = table["layer"].iloc[at], table["head"].iloc[at], table[column].iloc[at]
            found.append(f"{column} L{int(layer)}H{int(head)} {float(value):.3f}")
    probes = probes_of(run)
    head = f"probes {probes.info.n_sequences} sequences; " if probes is not None else ""
    return [f"atlas      {head}strongest {', '.join(found)}"] if found else []


def _fidelity_lines(run: Run) -> list[str]:
    try:
        from attentionviz.embed.fidelity import summarise
    except ImportError:
        return []
    summary = summarise(run)
    if not summary:
        return []
    return ["fidelity   " + "\n           ".join(f"{k}: {v}" for k, v in summary.items())]
