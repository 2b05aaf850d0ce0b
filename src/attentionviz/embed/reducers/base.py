"""What every layout method provides (`Reducer`), and the helpers the methods share."""

from __future__ import annotations

from importlib import metadata
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from attentionviz.embed.knn import KnnGraph


class Reducer(Protocol):
    """What the pipeline needs from a layout method."""

    name: ClassVar[str]  # the method in layout keys, routes and files: "tsne"
    label: ClassVar[str]  # how the app shows it: "t-SNE"
    order: ClassVar[int]  # position in menus and in the default plan
    #: dimensions made only when asked for by name (`tsne.3d`): slow for what they add
    on_request: ClassVar[tuple[int, ...]]

    def neighbours(self) -> int:
        """How many nearest neighbours per point this reducer reads from the shared graph (0: none)."""
        ...

    def params(self, dim: int) -> dict[str, Any]:
        """The settings that produced a layout, stored in its metadata."""
        ...

    def embed(
        self, x: np.ndarray, *, dim: int, knn: KnnGraph | None, seed: int, device: str = "cpu"
    ) -> np.ndarray:
        """[2N, D] -> [2N, dim] float32."""
        ...


@runtime_checkable
class Refiner(Protocol):
    """A reducer that can also start from given coordinates (a coarse layout, `embed/coarse.py`)."""

    def refine_params(self, dim: int) -> dict[str, Any]:
        """The settings of a refinement, stored in the layout's metadata."""
        ...

    def refine(
        self, x: np.ndarray, start: np.ndarray, *, knn: KnnGraph, seed: int, device: str = "cpu"
    ) -> np.ndarray:
        """[2N, D] and a start [2N, dim] (in its principal axes, equal spread along each) -> [2N, dim]."""
        ...


MIN_NEIGHBOURS = 3  # a neighbour-graph layout of fewer points (4) would show nothing


def version(package: str) -> str:
    """An installed package's version, for a layout's metadata."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def require_graph(knn: KnnGraph | None, k: int, name: str) -> KnnGraph:
    """The first k neighbours of the shared graph (all of them for a run too small to have k)."""
    if knn is None or knn.k < min(k, MIN_NEIGHBOURS):
        raise ValueError(
            f"{name} needs a kNN graph of {k} neighbours per point, got {0 if knn is None else knn.k}"
        )
    return knn.first(min(k, knn.k))
