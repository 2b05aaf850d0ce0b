"""`python -m attentionviz` is the `attentionviz` command."""

from attentionviz.cli import main

main()
