"""The user guide's CLI reference (docs/cli.md) is generated from the code and stays complete."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import click

from attentionviz.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_cli_md", DOCS / "make_cli_md.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_md_is_current() -> None:
    assert (DOCS / "cli.md").read_text() == generator().render(), (
        "docs/cli.md is stale; run `python docs/make_cli_md.py` and commit it"
    )


def test_every_command_and_option_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    missing = []
    for name, command in main.commands.items():
        if not command.help:
            missing.append(f"{name}: no help text")
        if f"## attentionviz {name}" not in text:
            missing.append(f"{name}: not in docs/cli.md")
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                if not param.help:
                    missing.append(f"{name} {param.opts[0]}: no help text")
                if not all(opt in text for opt in param.opts):
                    missing.append(f"{name} {param.opts[0]}: not in docs/cli.md")
    assert not missing, "undocumented: " + "; ".join(missing)
