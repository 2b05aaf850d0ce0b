"""One declared contract: the route table, its models and the layout registry drive the server, the
static export and the generated TypeScript, so each of them changes in one place."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from attentionviz.embed import reducers
from attentionviz.embed.knn import KnnGraph
from attentionviz.hosts.export import export_site
from attentionviz.hosts.server import create_app
from attentionviz.layouts import Layout
from attentionviz.readmodel import routes, typescript
from attentionviz.readmodel.frames import decode
from attentionviz.readmodel.routes import FrameOf, Json, Png
from tests.support.synthetic import make_synthetic_run

PARAMS = {
    "run": "alpha",
    "other": "alpha",
    "layer": 1,
    "head": 0,
    "seq": 2,
    "layout": "pca.2d",
    "map": "umap",
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("contract-runs")
    make_synthetic_run(
        folder / "alpha",
        layers=2,
        heads=2,
        tokens=80,
        layouts=(("pca", 2), ("tsne", 2)),
        probes=True,
        values=True,
    )
    return folder


@pytest.fixture(scope="module")
def client(runs: Path) -> TestClient:
    return TestClient(create_app([runs], static_dir=None))


def test_the_generated_typescript_is_current() -> None:
    assert typescript.TARGET.read_text(encoding="utf-8") == typescript.render(), (
        "frontend/src/data/api.gen.ts is stale; run `python -m attentionviz.readmodel.typescript` and commit it"
    )


def _buffer_pattern(name: str) -> str:
    return re.escape(name).replace(re.escape("{head}"), r"[0-9]+")


@pytest.mark.parametrize(
    "route", [r for r in routes.ROUTES if not isinstance(r.response, Png)], ids=lambda r: r.name
)
def test_every_route_sends_what_it_declares(client: TestClient, route: routes.Route) -> None:
    response = client.get("/api" + route.url(**{p.name: PARAMS[p.name] for p in route.path_params}))
    assert response.status_code == 200, response.text
    if isinstance(route.response, Json):
        TypeAdapter(route.response.type).validate_python(response.json())
        return
    assert isinstance(route.response, FrameOf)
    meta, arrays = decode(response.content)
    route.response.meta.model_validate(meta)  # extra fields are refused
    declared = [_buffer_pattern(b.name) for b in route.response.buffers]
    for name in arrays:
        assert any(re.fullmatch(p, name) for p in declared), f"{route.name} sends undeclared buffer {name}"


@dataclasses.dataclass(frozen=True)
class Toy:
    """A layout method that is not in the package: the first two coordinates, scaled."""

    name: ClassVar[str] = "toy"
    label: ClassVar[str] = "Toy"
    order: ClassVar[int] = 99
    on_request: ClassVar[tuple[int, ...]] = ()

    def neighbours(self) -> int:
        return 0

    def params(self, dim: int) -> dict[str, Any]:
        return {"backend": "test"}

    def embed(
        self, x: np.ndarray, *, dim: int, knn: KnnGraph | None, seed: int, device: str = "cpu"
    ) -> np.ndarray:
        return np.asarray(x[:, :dim] * 2, dtype=np.float32)


@pytest.fixture
def toy() -> Iterator[Toy]:
    reducers.register(Toy())
    yield Toy()
    reducers.unregister("toy")


def test_a_registered_layout_method_reaches_the_api_the_export_and_the_typescript(
    tmp_path: Path, toy: Toy, monkeypatch: pytest.MonkeyPatch
) -> None:
    import attentionviz as av
    from attentionviz.hosts import server

    run = make_synthetic_run(
        tmp_path / "runs" / "toyrun", layers=1, heads=2, tokens=30, layouts=(("pca", 2),)
    )
    av.open(run.path).embed(layouts=("toy",), dims=(2,), workers=1)
    assert Layout("toy", 2) in av.open(run.path).head(0, 1).layouts()

    api = TestClient(create_app([run.path], static_dir=None))
    assert api.get("/api/runs/toyrun/layouts").json()["toy.2d"] == [0, 1]
    meta, arrays = decode(api.get("/api/runs/toyrun/layers.0.heads.1/toy.2d").content)
    assert meta["layout"] == "toy.2d" and arrays["coords"].shape == (60, 2)

    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html>")
    monkeypatch.setattr(server, "STATIC_DIR", static)
    export_site(run.path, tmp_path / "site")
    assert (tmp_path / "site/api/runs/toyrun/layers.0.heads.1/toy.2d").is_file()
    assert (tmp_path / "site/api/runs/toyrun/layers.0/toy.2d").is_file()

    assert '{ id: "toy", label: "Toy", onRequest: [] }' in typescript.render()


def test_a_route_path_is_one_edit(tmp_path: Path, runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from attentionviz.hosts import server

    moved = tuple(
        dataclasses.replace(r, path="/runs/{run}/level-of-detail") if r.name == "lod_order" else r
        for r in routes.ROUTES
    )
    monkeypatch.setattr(routes, "ROUTES", moved)
    api = TestClient(create_app([runs], static_dir=None))
    assert api.get("/api/runs/alpha/level-of-detail").status_code == 200
    assert api.get("/api/runs/alpha/lod-order").status_code == 404

    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html>")
    monkeypatch.setattr(server, "STATIC_DIR", static)
    export_site(runs / "alpha", tmp_path / "site", layers=[0], heads=[0])
    assert (tmp_path / "site/api/runs/alpha/level-of-detail").is_file()
    assert not (tmp_path / "site/api/runs/alpha/lod-order").exists()

    assert (
        "lodOrder: (p: { run: string }): string => `runs/${enc(p.run)}/level-of-detail`"
        in typescript.render()
    )
