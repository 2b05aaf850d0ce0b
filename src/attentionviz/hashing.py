"""Content fingerprints: one way to hash a file, used for models, corpora and run arrays."""

from __future__ import annotations

import hashlib
from pathlib import Path

HASH_CHUNK = 1 << 22


def sha256_file(path: Path) -> str:
    """sha256 of one file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
