"""One contract between Python and TypeScript: the frontend's record types name the server's fields."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from attentionviz.server.app import HeadDetails, RunDetails, RunSummary

TYPES = Path(__file__).resolve().parents[2] / "frontend" / "src" / "data" / "types.ts"


def typescript_fields(source: str, name: str) -> set[str]:
    match = re.search(rf"export interface {name}(?: extends (\w+))? \{{(.*?)\n\}}", source, re.S)
    assert match, f"interface {name} not found in {TYPES}"
    body = re.sub(r"/\*\*.*?\*/", "", match.group(2), flags=re.S)
    fields = set(re.findall(r"^\s*(\w+)\??:", body, re.M))
    return fields | (typescript_fields(source, match.group(1)) if match.group(1) else set())


@pytest.mark.parametrize("model", [RunSummary, RunDetails, HeadDetails])
def test_typescript_records_match_the_pydantic_models(model: type[BaseModel]) -> None:
    assert typescript_fields(TYPES.read_text(encoding="utf-8"), model.__name__) == set(model.model_fields)
