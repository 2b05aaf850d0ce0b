"""The head atlas of a finished run: one job per head, then what spans heads.

    analyse_run(run_dir)                       # every head's atlas.json (profile, geometry, probes)
    analyse_run(run_dir, importance=True, model="minilm")   # and head importance (mean ablation)

Heads are independent jobs (`attentionviz.jobs.run_jobs`: local processes or a Dask cluster);
each writes `heads/layers.L.heads.H/atlas.json` when it is done, so an interrupted analysis
resumes where it stopped. A run built with `--values` also gets its value layouts
(`analysis/values.py`), and with `importance` its head importance (`analysis/importance.py`).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attentionviz.analysis.attention import SAMPLE_TOKENS
from attentionviz.analysis.progress import Progress, progress_bar
from attentionviz.analysis.table import ATLAS
from attentionviz.capture.probes import PROBES_DIR
from attentionviz.store import head_outputs, names
from attentionviz.store.reader import Run

log = logging.getLogger(__name__)

#: below this many head-tokens (heads x sampled tokens) the atlas runs in this process: a SmolLM2
#: run of 5,000 tokens (270 heads) takes ~10 s here, less than two worker processes take to start
IN_PROCESS = 10_000_000


@dataclass(frozen=True)
class AtlasJob:
    run_dir: str
    layer: int
    head: int


def probes_of(run: Run) -> Run | None:
    """The run's probe sequences (`RUN/probes/`, a run of its own), or None when it has none."""
    folder = run.path / PROBES_DIR
    return Run(folder) if (folder / names.MANIFEST).is_file() else None


@functools.lru_cache(maxsize=4)
def _opened(run_dir: str, stamp: int) -> tuple[Run, Run | None]:
    """The run and its probes, opened once per worker (their tables are read once, not per head)."""
    run = Run(run_dir)
    return run, probes_of(run)


def atlas_head(job: AtlasJob) -> tuple[int, int]:
    """One head's atlas record, stored as soon as it is computed: the job a worker runs."""
    from threadpoolctl import threadpool_limits

    from attentionviz.analysis.scores import head_record

    run, probes = _opened(job.run_dir, (Path(job.run_dir) / names.MANIFEST).stat().st_mtime_ns)
    with threadpool_limits(1):  # small matrices: a BLAS pool costs more than it gives
        record = head_record(run, probes, job.layer, job.head)
    head_outputs.save_head_json(run.path, job.layer, job.head, ATLAS, _finite(record))
    return job.layer, job.head


def _finite(data: Any) -> Any:
    """JSON-safe: NaN becomes null."""
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, float):
        return data if data == data and abs(data) != float("inf") else None
    return data


def analyse_run(
    run_dir: str | Path,
    *,
    workers: int | None = None,
    cluster: str | None = None,
    overwrite: bool = False,
    progress: bool | Progress | None = None,
    importance: bool = False,
    model: Any = None,
    importance_tokens: int = 512,
    device: str = "cpu",
    seed: int = 0,
) -> None:
    """Compute the head atlas of a run (text runs: every head; image runs: profile and geometry).

    `importance` also measures each head's importance by mean ablation with `model` (a model
    name or folder, or an already loaded one with its LM head; default: the run's own model).
    """
    from attentionviz.jobs.runner import run_jobs

    run = Run(run_dir)
    info = run.info
    jobs = [
        AtlasJob(str(run.path.resolve()), layer, head)
        for layer in range(info.layers)
        for head in range(info.heads)
        if overwrite or head_outputs.load_head_json(run.path, layer, head, ATLAS) is None
    ]
    if workers is None and cluster is None and len(jobs) * min(info.n_tokens, SAMPLE_TOKENS) < IN_PROCESS:
        workers = 1  # light jobs: starting worker processes would cost more than they save
    report, close = progress_bar(progress, "atlas", "head", total=len(jobs))
    try:
        for done, _ in enumerate(run_jobs(atlas_head, jobs, workers=workers, cluster=cluster), start=1):
            report(done, len(jobs))
    finally:
        close()
    if names.array_name(0, "v") in run.manifest.arrays:
        from attentionviz.analysis.values import embed_values

        embed_values(run, seed=seed, overwrite=overwrite, workers=workers, cluster=cluster)
    if importance:
        from attentionviz.analysis.importance import run_importance

        run_importance(
            run,
            model=model,
            tokens=importance_tokens,
            device=device,
            seed=seed,
            progress=progress,
            overwrite=overwrite,
        )
