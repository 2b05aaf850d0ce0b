"""Where attentionviz keeps what it makes once and reuses: de-quantised models, the digits ViT, demo runs."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """`$ATTENTIONVIZ_CACHE`, else `~/.cache/attentionviz`."""
    env = os.environ.get("ATTENTIONVIZ_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "attentionviz"
