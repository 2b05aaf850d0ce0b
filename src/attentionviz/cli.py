"""The `attentionviz` command line. Logging is configured here and nowhere else.

Heavy libraries (torch, transformers, reducers, pyarrow) are imported inside the commands, so
`attentionviz --help` is instant.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from attentionviz import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="attentionviz")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """A global view of transformer attention: every head's queries and keys, embedded jointly."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def fail(message: str) -> None:
    """Print a one-line error and exit non-zero."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def run_command(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call `func`, turning the user's mistakes into one-line errors instead of tracebacks."""
    from attentionviz.errors import AttentionVizError

    try:
        return func(*args, **kwargs)
    except AttentionVizError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; rerun the same command to resume where it stopped")


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=str))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 shares it on the network).")
@click.option("--port", default=8000, show_default=True, help="Port to listen on (0 picks a free one).")
@click.option("--open/--no-open", "open_browser", default=False, help="Open the app in a web browser.")
def serve(runs: tuple[str, ...], host: str, port: int, open_browser: bool) -> None:
    """Serve the web app over RUNS (run folders, or folders of runs), read-only."""
    from attentionviz.server.cli import serve_command

    run_command(serve_command, list(runs), host=host, port=port, open_browser=open_browser, echo=click.echo)
