"""Fixtures shared across the suite (the plugin modules each area adds are imported here)."""

from __future__ import annotations
