"""Write docs/cli.md from the click commands, so the CLI reference is the code's own help text.

    python docs/make_cli_md.py          # rewrite docs/cli.md
    python docs/make_cli_md.py --check  # exit 1 when docs/cli.md is stale

tests/unit/test_docs.py fails when docs/cli.md is stale or an option has no help text.
"""

from __future__ import annotations

import sys
from pathlib import Path

CLI_MD = Path(__file__).with_name("cli.md")


def render() -> str:
    """Each command's `--help` exactly as a user sees it (100 columns wide)."""
    from click.testing import CliRunner

    from attentionviz.cli import main

    def help_of(*args: str) -> str:
        result = CliRunner().invoke(main, [*args, "--help"], prog_name="attentionviz", terminal_width=100)
        assert result.exit_code == 0, result.output
        return f"```text\n{result.output.rstrip()}\n```\n"

    parts = [
        "# Command line reference\n",
        "Generated from the code by `python docs/make_cli_md.py`; do not edit by hand.\n",
        help_of(),
    ]
    for name in sorted(main.commands):
        parts += [f"## attentionviz {name}\n", help_of(name)]
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
