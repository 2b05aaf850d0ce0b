"""The `attentionviz` command line. Logging is configured here and nowhere else.

Every command follows one convention: click parses the arguments (ranges and lists included),
the command calls one function of the library, and `report` prints what it returned (a text, or an
object whose `str` is one: a Run, an export summary, a verify report). A result whose `ok` is False
is printed to stderr and exits 2; a user's mistake is one `error:` line and exit 2.

Heavy libraries (torch, transformers, reducers, pyarrow) are imported inside the commands, so
`attentionviz --help` is instant.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, NoReturn

import click

from attentionviz import __version__


class OneLineErrors(click.Group):
    """A click group whose usage errors are one line (`error: ...`), like every other error."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except click.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            fail(exc.format_message() + hint)
        except click.Abort:
            fail("aborted")
        if isinstance(result, int) and standalone_mode:
            sys.exit(result)  # --help and --version return 0 here
        return result


@click.group(
    cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="attentionviz")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """A global view of transformer attention: every head's queries and keys, embedded jointly."""
    from attentionviz.linux import stop_with_parent_if_asked

    stop_with_parent_if_asked()
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not verbose:  # Dask logs a lost scheduler as tracebacks; `--cluster` reports it in one line
        for handler in logging.root.handlers:
            handler.addFilter(lambda record: record.name.split(".")[0] != "distributed")
    if not verbose:  # the hub client's download bars are noise here
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def fail(message: str) -> NoReturn:
    """Print a one-line error and exit non-zero (a library's multi-line message is folded onto one line)."""
    click.echo(f"error: {' '.join(message.split())}", err=True)
    sys.exit(2)


def report(func: Any, *args: Any, **kwargs: Any) -> None:
    """Call `func` and print its result; the user's mistakes become one-line errors, not tracebacks."""
    from attentionviz.errors import AttentionVizError

    try:
        result = func(*args, **kwargs)
        text = "" if result is None else str(result)
    except AttentionVizError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; rerun the same command to resume where it stopped")
    ok = getattr(result, "ok", True)
    if text:
        click.echo(text, err=not ok)
    if not ok:
        sys.exit(2)


def _csv(kind: type, values: str) -> tuple[Any, ...]:
    """'tsne,umap' -> ('tsne', 'umap'); 'none' or '' -> ()."""
    items = [v.strip() for v in values.split(",") if v.strip() and v.strip().lower() != "none"]
    try:
        return tuple(kind(v) for v in items)
    except ValueError:
        fail(f"cannot read {values!r} as a comma-separated list of {kind.__name__}")
        raise


def parse_ranges(text: str | None, what: str) -> list[int] | None:
    """'0,2-4' -> [0, 2, 3, 4]; None or 'all' -> None (the library checks them against the run)."""
    if text is None or text.strip().lower() in ("", "all"):
        return None
    found: list[int] = []
    try:
        for part in text.split(","):
            if part.strip():
                first, _, last = part.strip().partition("-")
                found.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        fail(f"cannot read --{what} {text!r}; write indices and ranges like 0,2-4")
    return sorted(set(found))


def importance_options(command: Any) -> Any:
    """`--importance` and `--importance-tokens`, shared by `build` and `embed`."""
    command = click.option(
        "--importance-tokens",
        default=512,
        show_default=True,
        type=click.IntRange(16),
        help="Corpus tokens the importance loss is measured on.",
    )(command)
    return click.option(
        "--importance",
        is_flag=True,
        help="Also measure each head's importance: the rise in the model's loss when the head's output is "
        "replaced by its mean (needs the model's LM head).",
    )(command)


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0 shares it on the network).",
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0 picks a free one).",
)
@click.option("--open/--no-open", "open_browser", default=False, help="Open the app in a web browser.")
def serve(runs: tuple[str, ...], host: str, port: int, open_browser: bool) -> None:
    """Serve the web app over RUNS (run folders, or folders of runs), read-only."""
    from attentionviz.hosts.serve import serve_runs

    report(serve_runs, list(runs), host=host, port=port, open_browser=open_browser, say=click.echo)


@main.command()
@click.argument("model")
@click.argument("corpus")
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(path_type=str),
    help="Run folder to write (resumes an unfinished one).",
)
@click.option(
    "--split",
    type=click.Choice(["sentence", "line", "paragraph"]),
    default="sentence",
    show_default=True,
    help="How plain text is cut into sequences.",
)
@click.option(
    "--text-column", default=None, help="Column holding the text in JSONL / CSV / Parquet / datasets."
)
@click.option(
    "--format",
    "corpus_format",
    default=None,
    help="Corpus format, when the file suffix does not tell (text, jsonl, json, csv, parquet, hf-dataset, images).",
)
@click.option(
    "--max-tokens",
    default=5000,
    show_default=True,
    help="Token budget, sampled as whole sequences (0: the whole corpus).",
)
@click.option("--max-sequences", default=None, type=int, help="At most this many sequences.")
@click.option("--seed", default=0, show_default=True, help="Seed for sampling and layouts.")
@click.option(
    "--max-length",
    default=None,
    type=int,
    help="Window length for long texts (default: the model's context).",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    default="cpu",
    show_default=True,
    help="Where the model and layouts run.",
)
@click.option(
    "--device-map",
    type=click.Choice(["auto", "balanced", "balanced_low_0", "sequential"]),
    default=None,
    help="Spread a model larger than one device over the GPUs, then CPU memory, then disk (accelerate).",
)
@click.option(
    "--max-memory",
    default=None,
    help="With --device-map: memory per device, e.g. 0=20GiB,1=20GiB,cpu=60GiB.",
)
@click.option(
    "--offload-folder",
    default=None,
    type=click.Path(path_type=str),
    help="With --device-map: folder for the weights that fit in no device's memory.",
)
@click.option(
    "--dtype",
    type=click.Choice(["auto", "float32", "float16", "bfloat16"]),
    default="auto",
    show_default=True,
    help="Model weights' dtype (auto: float32); queries and keys are stored in it.",
)
@click.option("--pre-rope", is_flag=True, help="Also keep queries and keys before rotary position encoding.")
@click.option(
    "--values", is_flag=True, help="Also keep every KV head's value vectors, and lay them out (PCA, UMAP)."
)
@click.option(
    "--probes",
    default="induction",
    show_default=True,
    help="Diagnostic sequences captured beside a text corpus, for the induction and duplicate-token scores: induction, or none.",
)
@click.option("--batch-tokens", default=8192, show_default=True, help="Padded tokens per forward batch.")
@click.option(
    "--layouts",
    default="all",
    show_default=True,
    help="Layouts to compute after capture: methods (tsne, umap, pca), keys (tsne.3d), all, or none.",
)
@click.option("--dims", default="2,3", show_default=True, help="Layout dimensions.")
@click.option(
    "--workers", default=None, type=int, help="Parallel embedding processes (default: the number of cores)."
)
@click.option(
    "--cluster", default=None, help="Dask scheduler address (tcp://HOST:PORT) to run embedding jobs on."
)
@importance_options
@click.option("--quiet", is_flag=True, help="No progress bars.")
def build(model: str, corpus: str, out: str, quiet: bool, **settings: Any) -> None:
    """Capture MODEL's queries and keys over CORPUS into a run folder (attention is derived from them), then embed every head.

    MODEL is a hub id, a local model folder, a .gguf file, or an offline model: minilm, smollm2.
    CORPUS is a text file, JSONL / CSV / Parquet file, saved Hugging Face dataset, image folder,
    or `wikipedia` (the bundled Wikipedia summaries, from the demo extra).
    """
    from attentionviz.api import build as build_run

    settings["max_tokens"] = settings["max_tokens"] or None
    settings["layouts"] = _csv(str, settings["layouts"])
    settings["dims"] = _csv(int, settings["dims"])
    settings["probes"] = _csv(str, settings["probes"])
    report(build_run, model, corpus, out=out, progress=not quiet, **settings)


@main.command()
@click.argument("run", type=click.Path(path_type=str))
def info(run: str) -> None:
    """Summarise a run: model, corpus, sizes, layouts computed and their fidelity."""
    from attentionviz.api import open as open_run

    report(open_run, run)


@main.command()
@click.option(
    "--model",
    type=click.Choice(["minilm", "smollm2"]),
    default="minilm",
    show_default=True,
    help="Bundled language model to explore (smollm2: a decoder with grouped-query attention).",
)
@click.option("--images", is_flag=True, help="The bundled digits ViT on held-out digit images instead.")
@click.option(
    "--tokens",
    default=2500,
    show_default=True,
    type=click.IntRange(1),
    help="Tokens of the Wikipedia sample (each count is cached separately).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0 picks a free one).",
)
@click.option("--open/--no-open", "open_browser", default=True, help="Open the app in a web browser.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(
    model: str, images: bool, tokens: int, host: str, port: int, open_browser: bool, quiet: bool
) -> None:
    """Build (or reuse, from the cache) a run of a bundled model and serve it.

    PCA layouts are made before serving; t-SNE and UMAP fill in from a background process.
    """
    from attentionviz.hosts.demo import run_demo

    report(
        run_demo,
        model,
        images=images,
        tokens=tokens,
        host=host,
        port=port,
        open_browser=open_browser,
        progress=not quiet,
        say=click.echo,
    )


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(path_type=str),
    help="Folder to write the site into (with --single-file: the HTML file).",
)
@click.option("--layers", default=None, help="Layers to include, e.g. 0,2-4 (default: all).")
@click.option("--heads", default=None, help="Heads to include in each layer, e.g. 0-3 (default: all).")
@click.option("--layouts", default=None, help="Layouts to include, e.g. tsne,pca.3d (default: all).")
@click.option("--overwrite", is_flag=True, help="Replace a folder that is not empty (or an existing file).")
@click.option(
    "--single-file",
    is_flag=True,
    help="Write one HTML file that opens from disk (small runs: up to 40 MB of data).",
)
def export(
    runs: tuple[str, ...],
    out: str,
    layers: str | None,
    heads: str | None,
    layouts: str | None,
    overwrite: bool,
    single_file: bool,
) -> None:
    """Write RUNS as a static web site (no Python behind it): `python -m http.server -d OUT` shows it.

    Several runs (or a folder of runs, such as a training series) make a site with compare mode and
    scrubbing through the series.
    """
    from attentionviz.hosts.export import export

    report(
        export,
        list(runs) if len(runs) > 1 else runs[0],
        out,
        layers=parse_ranges(layers, "layers"),
        heads=parse_ranges(heads, "heads"),
        layouts=_csv(str, layouts) if layouts else None,
        overwrite=overwrite,
        single_file=single_file,
    )


@main.command()
@click.argument("run", type=click.Path(path_type=str))
@click.option("-o", "--out", required=True, type=click.Path(path_type=str), help="PNG file to write.")
@click.option(
    "--layer", default=None, type=int, help="Layer of the head to draw (with --head; neither: Matrix View)."
)
@click.option("--head", default=None, type=int, help="Head to draw (with --layer).")
@click.option("--projection", default=None, help="Layout method, e.g. umap (default: the app's first).")
@click.option("--dim", type=click.Choice(["2", "3"]), default="2", show_default=True, help="2D or 3D layout.")
@click.option(
    "--color",
    default="query_key",
    show_default=True,
    help="Colouring, as in the app (query_key, position, norm, ...).",
)
@click.option(
    "--theme", type=click.Choice(["light", "dark"]), default="light", show_default=True, help="Colour theme."
)
@click.option("--labels", is_flag=True, help="Draw the app's labels over the points.")
@click.option(
    "--width",
    default=1000,
    show_default=True,
    help="Browser window width in CSS pixels (the PNG is its drawing area).",
)
@click.option("--height", default=800, show_default=True, help="Browser window height in CSS pixels.")
@click.option("--scale", default=2.0, show_default=True, help="Pixels per CSS pixel (2 or 3 for print).")
def snapshot(run: str, out: str, dim: str, **settings: Any) -> None:
    """Save a PNG of one head (or of every head) of RUN, drawn by the web app in headless Chromium."""
    from attentionviz.hosts.snapshot import snapshot as take

    report(take, run, out, dim=int(dim), **settings)


@main.command()
@click.argument("run", type=click.Path(path_type=str))
@click.option(
    "--layouts",
    default="all",
    show_default=True,
    help="Layouts to compute: methods (tsne, umap, pca), keys (tsne.3d; 3D t-SNE is only made when named), or all.",
)
@click.option("--dims", default="2,3", show_default=True, help="Layout dimensions.")
@click.option("--layers", default=None, help="Layers to embed, e.g. 0,2-4 (default: all).")
@click.option("--heads", default=None, help="Heads to embed in each layer, e.g. 0-3 (default: all).")
@click.option(
    "--workers", default=None, type=int, help="Parallel embedding processes (default: the number of cores)."
)
@click.option(
    "--cluster", default=None, help="Dask scheduler address (tcp://HOST:PORT) to run the head jobs on."
)
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="Where kNN and layouts run.",
)
@click.option(
    "--seed", default=0, show_default=True, help="Layout seed (the same seed gives the same layouts)."
)
@click.option("--overwrite", is_flag=True, help="Recompute layouts, metrics and fidelity that already exist.")
@click.option(
    "--normalisation",
    type=click.Choice(["auto", "translated", "raw", "translated+scaled"]),
    default="auto",
    show_default=True,
    help="Keys moved onto the query centroid (translated), also scaled to equal mean norms, or raw; "
    "auto translates a head's keys when that keeps 80% of the raw keys' fidelity.",
)
@click.option(
    "--metric",
    type=click.Choice(["cosine", "euclidean"]),
    default="cosine",
    show_default=True,
    help="Layout metric.",
)
@importance_options
@click.option("--quiet", is_flag=True, help="No progress bars.")
def embed(
    run: str, layouts: str, dims: str, layers: str | None, heads: str | None, quiet: bool, **settings: Any
) -> None:
    """Compute (more) layouts, head metrics, fidelity and the head atlas for a captured RUN; resumes where it stopped."""
    from attentionviz.api import embed as embed_run

    report(
        embed_run,
        run,
        layouts=_csv(str, layouts),
        dims=_csv(int, dims),
        layers=parse_ranges(layers, "layers"),
        heads=parse_ranges(heads, "heads"),
        progress=not quiet,
        **settings,
    )


@main.command()
@click.argument("run_a", type=click.Path(path_type=str))
@click.argument("run_b", type=click.Path(path_type=str))
@click.option(
    "--top", default=20, show_default=True, type=click.IntRange(0), help="Heads to list (0: every head)."
)
@click.option(
    "--layout",
    default=None,
    help="Layout whose change is compared, e.g. pca.2d (default: the first 2D layout both have).",
)
@click.option(
    "--max-tokens",
    default=5000,
    show_default=True,
    type=click.IntRange(1),
    help="Compare attention over a seeded sample of the shared sequences holding about this many tokens.",
)
@click.option(
    "--matches",
    default=3,
    show_default=True,
    type=click.IntRange(1),
    help="Runs of different models or corpora: nearest heads of RUN_B listed for each head of RUN_A.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def compare(
    run_a: str, run_b: str, top: int, layout: str | None, max_tokens: int, matches: int, quiet: bool
) -> None:
    """How every head changed from RUN_A to RUN_B (checkpoints, fine-tunes: one architecture, one corpus), the most changed heads first; for runs of different models or corpora, each head of RUN_A's nearest heads of RUN_B by fingerprint, the best matched first."""
    from attentionviz.api import compare_report

    report(
        compare_report,
        run_a,
        run_b,
        top=top,
        layout=layout,
        max_tokens=max_tokens,
        matches=matches,
        progress=not quiet,
    )


@main.command()
@click.argument("run", type=click.Path(path_type=str))
@click.option("--quick", is_flag=True, help="Skip the sha256 checksums (sizes and shapes are still checked).")
def verify(run: str, quick: bool) -> None:
    """Check a run folder's integrity: manifest, arrays (sizes, checksums), tables, layouts."""
    from attentionviz.store.verify import verify_run

    report(verify_run, run, quick=quick)


@main.command()
@click.argument("run", type=click.Path(path_type=str))
def upgrade(run: str) -> None:
    """Convert, in place, a run written by an older attentionviz (safe to interrupt and rerun)."""
    from attentionviz.store.upgrade import upgrade_run

    report(upgrade_run, run)
