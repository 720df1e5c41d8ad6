"""Fixtures: lsp."""
