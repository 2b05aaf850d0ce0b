"""What spans heads and runs: probe scores, head importance, fingerprints, the head map, related heads,
and the comparison of two runs (drift, matching, Procrustes alignment for scrubbing).

    from attentionviz.analysis import analyse_run, fingerprints, head_map
    analyse_run("runs/minilm")                 # every head's atlas.json (resumable, one job per head)
    head_map([run_a, run_b], method="umap")    # one point per head of both runs

Its modules: `attention` (a head's attention derived from q and k), `scores` (probe scores,
attention profile, q/k geometry, keys needed), `fingerprint`, `headmap`, `importance` (mean
ablation), `values` (value-vector layouts), `table` (a run's metrics), `pipeline` (the atlas
jobs); `compare`, `align`, `series` and `training` (comparing runs, and runs while training).
"""

from __future__ import annotations

from attentionviz.analysis.fingerprint import FingerprintSpace, distances, fingerprints
from attentionviz.analysis.headmap import head_map, related
from attentionviz.analysis.pipeline import analyse_run
from attentionviz.analysis.table import metrics_table

__all__ = [
    "FingerprintSpace",
    "analyse_run",
    "distances",
    "fingerprints",
    "head_map",
    "metrics_table",
    "related",
]
