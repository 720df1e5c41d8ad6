"""The language server: `build_server()` in `app.py`, the `trust-lsp` entry point in
`__main__.py`. The LSP surface is documented in docs/lsp.md."""
