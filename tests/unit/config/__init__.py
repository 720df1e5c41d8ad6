"""Configuration: merge, store, loader, docs."""
