"""What `attentionviz embed RUN` does, kept out of cli.py so the click function stays thin."""

from __future__ import annotations

from pathlib import Path

from attentionviz.embed import joint
from attentionviz.embed.joint import Normalisation
from attentionviz.errors import AttentionVizError

NORMALISATIONS: dict[str, Normalisation | None] = {
    "auto": None,
    "translated": joint.TRANSLATED,
    "raw": joint.RAW,
    "translated+scaled": joint.TRANSLATED_SCALED,
}


def parse_ranges(text: str | None, *, upper: int, what: str) -> list[int] | None:
    """'0,2-4' -> [0, 2, 3, 4]; None or 'all' -> None. Every index must be below `upper`."""
    if text is None or text.strip().lower() in ("", "all"):
        return None
    found: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            first, _, last = part.partition("-")
            found.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        raise AttentionVizError(
            f"cannot read --{what} {text!r}; write indices and ranges like 0,2-4"
        ) from None
    bad = [i for i in found if not 0 <= i < upper]
    if bad:
        raise AttentionVizError(f"--{what} {bad[0]} is out of range: this run has {what} 0..{upper - 1}")
    return sorted(set(found))


def embed_command(
    run_path: str,
    *,
    layouts: tuple[str, ...],
    dims: tuple[int, ...],
    layers: str | None,
    heads: str | None,
    workers: int | None,
    cluster: str | None,
    device: str,
    seed: int,
    overwrite: bool,
    normalisation: str,
    metric: str,
    progress: bool,
) -> str:
    """Embed the selected heads of a run and return the fidelity summary to print."""
    from attentionviz.embed.fidelity import summarise
    from attentionviz.embed.pipeline import embed_run
    from attentionviz.store.reader import Run

    run = Run(run_path)
    layer_list = parse_ranges(layers, upper=run.info.layers, what="layers") or range(run.info.layers)
    head_list = parse_ranges(heads, upper=run.info.heads, what="heads") or range(run.info.heads)
    embed_run(
        Path(run_path),
        layouts=layouts,
        dims=dims,
        heads=[(layer, head) for layer in layer_list for head in head_list],
        workers=workers,
        cluster=cluster,
        device=device,
        seed=seed,
        progress=progress,
        overwrite=overwrite,
        normalisation=NORMALISATIONS[normalisation],
        metric=metric,
    )
    summary = summarise(Run(run_path))
    return "\n".join(f"{key}: {value}" for key, value in summary.items())
