"""Fixtures: ollama."""
