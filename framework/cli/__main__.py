"""`python -m framework.cli`: the `plait` command."""

from framework.cli import main

main()
