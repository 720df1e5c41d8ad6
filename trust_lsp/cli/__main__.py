"""`python -m trust_lsp.cli` runs the `trust` command."""

from trust_lsp.cli.app import main

main()
