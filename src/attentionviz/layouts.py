"""The layout vocabulary: a layout is one reduction method in 2D or 3D, named `METHOD.Nd` everywhere.

    Layout("tsne", 2).key == "tsne.2d"          Layout.parse("umap.3d") == Layout("umap", 3)

The key names a layout's file in a head folder (`tsne.2d.npy`), its HTTP route
(`.../layers.3.heads.5/tsne.2d`), the static export's file, and the frontend's state (whose
TypeScript mirror is generated into `frontend/src/data/api.gen.ts`). Which methods exist is the
reducer registry's business (`attentionviz.embed.reducers`); this module only knows the form, so
every layer can use it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from attentionviz.errors import AttentionVizError

DIMS = (2, 3)
#: a method name: lower-case letters, digits, '_' and '-', starting with a letter
METHOD_PATTERN = r"[a-z][a-z0-9_-]{0,31}"
_KEY = re.compile(rf"^({METHOD_PATTERN})\.?([23])d$")


class Layout(NamedTuple):
    """One layout of a head: a method ("tsne") in `dim` dimensions. Unpacks as (method, dim)."""

    method: str
    dim: int

    @property
    def key(self) -> str:
        """`tsne.2d`: the name in routes, files and the frontend."""
        return f"{self.method}.{self.dim}d"

    @property
    def file_name(self) -> str:
        """`tsne.2d.npy`: the layout's file inside a head folder."""
        return f"{self.key}.npy"

    def __str__(self) -> str:
        return self.key

    @classmethod
    def parse(cls, text: str) -> Layout:
        """`tsne.2d` (or `tsne2d`, any case) -> Layout("tsne", 2); anything else is a one-line error."""
        method, dim = split_spec(text)
        if dim is None:
            raise AttentionVizError(
                f"{text!r} names no dimension; write METHOD.2d or METHOD.3d, e.g. {method or 'tsne'}.2d"
            )
        return cls(method, dim)

    @classmethod
    def of(cls, method: str | Layout, dim: int = 2) -> Layout:
        """A Layout from a Layout, a key (`umap.3d`, which wins over `dim`) or a method and `dim`."""
        if isinstance(method, Layout):
            return method
        name, explicit = split_spec(method)
        if (explicit or dim) not in DIMS:
            raise AttentionVizError(f"layouts are 2D or 3D, not {dim}D")
        return cls(name, explicit or dim)

    @classmethod
    def from_file_name(cls, name: str) -> Layout | None:
        """The layout stored in a head folder's file `name` (`tsne.2d.npy`), or None for other files."""
        if not name.endswith(".npy"):
            return None
        match = _KEY.match(name[: -len(".npy")])
        return cls(match[1], int(match[2])) if match and "." in name[: -len(".npy")] else None


def split_spec(text: str) -> tuple[str, int | None]:
    """`umap` -> ("umap", None); `umap.3d` / `umap3d` / ` UMAP.3D ` -> ("umap", 3).

    Refuses what cannot be a method name (a one-line error that shows the form).
    """
    spec = text.strip().lower()
    match = _KEY.match(spec)
    if match:
        return match[1], int(match[2])
    if re.fullmatch(METHOD_PATTERN, spec) and not re.fullmatch(r".*[0-9]d", spec):
        return spec, None
    raise AttentionVizError(f"{text!r} is not a layout; write METHOD, METHOD.2d or METHOD.3d, e.g. tsne.2d")
