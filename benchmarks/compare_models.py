"""What `compare` finds between two models: heads matched by fingerprint, and whether heads that do
one job (previous token, induction, first token) match heads that do the same job.

    python benchmarks/compare_models.py [--a minilm] [--b smollm2] [--corpus wikipedia] [--max-tokens 1500]
    python benchmarks/compare_models.py --runs RUN_A RUN_B          # runs already built

Builds both runs (PCA layouts, the head atlas) into a temporary folder unless --runs is given,
then prints the time of the matching, the best matched pairs with both heads' job scores (the
atlas's `previous`, `induction` and `first` metrics), and for each job the heads of A that do it
most (score >= --job) with their match in B and where that match ranks among B's heads for the job.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import attentionviz as av
from attentionviz.analysis.table import metrics_table

JOBS = ("previous", "induction", "first")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--a", default="minilm")
    parser.add_argument("--b", default="smollm2")
    parser.add_argument("--corpus", default="wikipedia")
    parser.add_argument("--max-tokens", type=int, default=1500)
    parser.add_argument("--runs", nargs=2, default=None)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument(
        "--job", type=float, default=0.5, help="a head does a job when its score is at least this"
    )
    args = parser.parse_args()
    if args.runs:
        run_a, run_b = (Path(r) for r in args.runs)
    else:
        folder = Path(tempfile.mkdtemp(prefix="compare-models-"))
        run_a, run_b = folder / "a", folder / "b"
        for model, out in ((args.a, run_a), (args.b, run_b)):
            start = time.perf_counter()
            av.build(model, args.corpus, out=out, max_tokens=args.max_tokens, layouts=("pca",), dims=(2,))
            print(f"built {model} into {out} in {time.perf_counter() - start:.1f} s")
    for repetition in (1, 2):
        start = time.perf_counter()
        table = av.compare(run_a, run_b)
        print(
            f"[{repetition}] matching {len(table)} heads of A with {table.attrs['heads_b']} of B: {time.perf_counter() - start:.2f} s"
        )
    jobs_a = metrics_table(av.open(run_a)).set_index(["layer", "head"])
    jobs_b = metrics_table(av.open(run_b)).set_index(["layer", "head"])
    known = [job for job in JOBS if job in jobs_a and job in jobs_b]
    print(f"median distance over all pairs {table.attrs['median_distance']:.3f}")
    print(f"best matched pairs (A -> B, distance, mutual; job scores {'/'.join(known)} of A | of B):")
    for row in table.sort_values("distance").head(args.top).itertuples():
        a = "/".join(f"{jobs_a.loc[(row.layer, row.head), j]:.2f}" for j in known)
        b = "/".join(f"{jobs_b.loc[(row.match_layer, row.match_head), j]:.2f}" for j in known)
        mutual = " mutual" if row.mutual else ""
        print(
            f"  L{row.layer} H{row.head} -> L{row.match_layer} H{row.match_head}  {row.distance:.3f}{mutual}   {a} | {b}"
        )
    rows = table.set_index(["layer", "head"])
    for job in known:
        doers = jobs_a[jobs_a[job] >= args.job].sort_values(job, ascending=False)
        rank_b = jobs_b[job].rank(ascending=False)
        print(f"{job}: {len(doers)} heads of A score >= {args.job} ({(jobs_b[job] >= args.job).sum()} of B)")
        for (layer, head), score in doers[job].head(6).items():
            match = rows.loc[(layer, head)]
            key = (int(match["match_layer"]), int(match["match_head"]))
            print(
                f"  L{layer} H{head} ({score:.2f}) -> L{key[0]} H{key[1]} ({jobs_b.loc[key, job]:.2f}, "
                f"rank {int(rank_b.loc[key])} of {len(jobs_b)} in B for {job}), distance {match['distance']:.3f}"
            )


if __name__ == "__main__":
    main()
