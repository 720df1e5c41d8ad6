"""Trust LSP: a local-first AI language server."""

__version__ = "0.1.0"
