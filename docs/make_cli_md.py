"""Write docs/cli.md from the click commands, so the CLI reference is the code's own help text.

    python docs/make_cli_md.py          # rewrite docs/cli.md
    python docs/make_cli_md.py --check  # exit 1 when docs/cli.md is stale

tests/unit/test_docs.py fails when docs/cli.md is stale or an option has no help text.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

CLI_MD = Path(__file__).with_name("cli.md")


def render() -> str:
    from attentionviz.cli import main

    parts = [
        "# Command line reference\n",
        "Generated from the code by `python docs/make_cli_md.py`; do not edit by hand.\n",
    ]
    with click.Context(main, info_name="attentionviz", terminal_width=100, max_content_width=100) as ctx:
        parts.append(f"```text\n{main.get_help(ctx).rstrip()}\n```\n")
        for name in sorted(main.commands):
            command = main.commands[name]
            with click.Context(
                command, info_name=name, parent=ctx, terminal_width=100, max_content_width=100
            ) as sub:
                parts.append(f"## attentionviz {name}\n")
                parts.append(f"```text\n{command.get_help(sub).rstrip()}\n```\n")
    return "\n".join(parts)


def main() -> None:
    text = render()
    if "--check" in sys.argv[1:]:
        if not CLI_MD.exists() or CLI_MD.read_text() != text:
            print(f"{CLI_MD} is stale; run `python docs/make_cli_md.py`", file=sys.stderr)
            sys.exit(1)
        return
    CLI_MD.write_text(text)
    print(f"wrote {CLI_MD}")


if __name__ == "__main__":
    main()
