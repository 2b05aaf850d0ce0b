"""schemathesis over the app's own OpenAPI schema: every route, no 5xx, no response that breaks the schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attentionviz.hosts.server import create_app
from tests.support.synthetic import make_synthetic_run


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("fuzz")
    make_synthetic_run(
        root / "run", layers=2, heads=2, tokens=40, layouts=(("pca", 2), ("pca", 3), ("tsne", 2), ("umap", 2))
    )
    return create_app([Path(root)], static_dir=None)


def aim_at_the_run(case: Any) -> Any:
    """Half the cases name the real run and small indices, so the success paths are fuzzed too."""
    params = dict(case.path_parameters or {})
    if "run" in params:
        params["run"] = "run"
    for name in ("layer", "head"):
        if isinstance(params.get(name), int):
            params[name] = abs(params[name]) % 2
    if "method" in params:
        params["method"] = ("pca", "tsne", "umap")[len(str(params["method"])) % 3]
    if isinstance(params.get("dim"), int):
        params["dim"] = 2 + abs(params["dim"]) % 2
    case.path_parameters = params
    return case


def test_no_server_error_and_no_schema_violation(fuzz_app: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9, "every route is in the schema"
    for operation in operations:
        raw = operation.as_strategy()

        @given(case=st.one_of(raw, raw.map(aim_at_the_run)))
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            case.call_and_validate()

        check()
