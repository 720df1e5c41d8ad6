"""Benchmark: replay a typing session against the real server, as an editor does.

The server (`python -m trust_lsp.server`, stdio) is started as an editor starts it and
talks to the Ollama test server (in-process thread, 30 ms per token by default). A seeded
typing session (200 keystrokes at 40–120 ms intervals, with 8 pauses of ~600 ms and a few
typos fixed with backspace) types a function into a Python file; every keystroke sends
`didChange` and a `textDocument/inlineCompletion` request without waiting for the answer
(like Neovim; `--cancel` also sends `$/cancelRequest` for the previous request, like VS Code).

Printed: LSP requests, answered/unanswered, suggestions displayed (an answer is displayed
when it arrives before the next keystroke and is not empty), backend requests (completion
generations at the test server during the trace), backend tokens, and the tokens generated
for answers nobody saw: generations whose text never reached a displayed suggestion (and,
of a stream cut short whose complete lines were shown from the cache, its unfinished last
line).

Targets: backend requests ≤ pauses + 2, wasted tokens ≤ 10 % of all, unanswered = 0.

The stand-in model: `--model echo` is the test server's default reply ("echo <last line>":
never what the user types next); `--model oracle` answers with the rest of the file being
typed (a model that is always right, so typing along suggestions is served by the cache);
`--model both` (default) runs both. Settings are the defaults, except the backend URL and
the fallback order (Ollama only: the bench must not load the embedded model).

Run: `.venv/bin/python bench/typing_trace.py [--seed N] [--seeds K] [--token-delay-ms 30]
[--cancel] [--verbose]`; `--seeds K` runs K seeds from N and prints a summary per model.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lsprotocol import types  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

from tests.fakes.ollama_server import OllamaTestServer, default_reply, tokenize  # noqa: E402

KEYSTROKES = 200
PAUSES = 8
TYPO_RATE = 0.03

EXISTING = '''"""Invoices: totals and taxes."""

from dataclasses import dataclass


@dataclass
class Line:
    description: str
    quantity: int
    unit_price: float


'''

# What the user types, after EXISTING (the end of the file).
TYPED = '''def invoice_total(lines: list[Line], tax_rate: float = 0.2) -> float:
    """The total of an invoice, taxes included."""
    subtotal = sum(line.quantity * line.unit_price for line in lines)
    taxes = subtotal * tax_rate
    return round(subtotal + taxes, 2)


def describe(lines: list[Line]) -> str:
    return "\\n".join(f"{line.quantity} x {line.description}" for line in lines)
'''

HELPERS = '''"""Helpers used by invoices."""


def round_money(value: float) -> float:
    return round(value, 2)


def tax_for(subtotal: float, tax_rate: float) -> float:
    return subtotal * tax_rate
'''


# --- the typing session --------------------------------------------------------------------


@dataclass(frozen=True)
class Keystroke:
    """Insert `char` (or delete the character before the cursor when None), after `delay_s`."""

    char: str | None
    delay_s: float


def typing_session(
    seed: int, keystrokes: int = KEYSTROKES, pauses: int = PAUSES
) -> list[Keystroke]:
    """200 keystrokes at 40–120 ms, `pauses` pauses of ~600 ms, typos fixed by backspace."""
    rng = random.Random(seed)
    chars: list[str | None] = []
    position = 0
    while len(chars) < keystrokes:
        if rng.random() < TYPO_RATE and len(chars) < keystrokes - 2:
            chars += [rng.choice("qxzj"), None]  # a wrong key, then backspace
        chars.append(TYPED[position % len(TYPED)])
        position += 1
    chars = chars[:keystrokes]
    # Pauses after these keystrokes (not the last: the session ends with one anyway).
    pause_after = set(rng.sample(range(10, keystrokes - 5), pauses))
    session: list[Keystroke] = []
    previous_pause = False
    for i, char in enumerate(chars):
        delay = rng.uniform(0.55, 0.65) if previous_pause else rng.uniform(0.04, 0.12)
        session.append(Keystroke(char, 0.0 if i == 0 else delay))
        previous_pause = i in pause_after
    return session


# --- the stand-in models -------------------------------------------------------------------


@dataclass
class Replies:
    """Remembers what the test server answered to each prompt (to find wasted tokens)."""

    mode: str
    answers: dict[tuple[str, str], str] = field(default_factory=dict)

    def __call__(self, endpoint: str, body: Mapping[str, Any]) -> str:
        prompt = str(body.get("prompt") or "")
        suffix = str(body.get("suffix") or "")
        text = self.oracle(prompt) if self.mode == "oracle" else None
        if text is None:
            text = default_reply(endpoint, body)
        self.answers[(prompt, suffix)] = text
        return text

    @staticmethod
    def oracle(prompt: str) -> str | None:
        """The rest of the file being typed (three lines at most), if the prompt follows it."""
        full = EXISTING + TYPED
        for k in range(len(full), len(EXISTING) - 1, -1):
            if prompt.endswith(full[:k]):
                rest = full[k:]
                return "\n".join(rest.split("\n")[:3])
        return None


def sent_text(reply: str, tokens_sent: int, stops: list[str]) -> str:
    """The text of the first `tokens_sent` tokens, as the test server streamed it."""
    tokens = tokenize(reply)
    text = "".join(tokens[:tokens_sent])
    for stop in stops:
        if stop and stop in text:
            text = text[: text.index(stop)]
    return text


# --- the editor ----------------------------------------------------------------------------


def utf16_position(text: str, offset: int) -> types.Position:
    """The LSP position (UTF-16 code units) of a Python offset."""
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    character = len(text[start:offset].encode("utf-16-le")) // 2
    return types.Position(line=line, character=character)


@dataclass
class Sent:
    index: int
    sent_at: float
    answered_at: float | None = None
    answered_wall: float = 0.0  # time.time(), comparable with the test server's records
    items: list[str] = field(default_factory=list)
    error: str | None = None
    displayed: bool = False


@dataclass
class Outcome:
    model: str
    lsp_requests: int
    answered: int
    unanswered: int
    displayed: int
    cancelled_by_client: int
    backend_requests: int
    backend_tokens: int
    wasted_tokens: int
    cancelled_streams: int
    display_latency_ms: list[float]
    wall_s: float


async def drain(stream: asyncio.StreamReader | None, sink: list[bytes]) -> None:
    """Read the server's stderr so its log can never fill the pipe and block it."""
    if stream is None:
        return
    while chunk := await stream.read(65536):
        sink.append(chunk)


async def run_trace(args: argparse.Namespace, model: str, seed: int) -> Outcome:
    replies = Replies(model)
    session = typing_session(seed)
    with OllamaTestServer(token_delay_s=args.token_delay_ms / 1000) as srv:
        srv.default_reply = replies
        client = LanguageClient("typing-trace", "1.0")
        await client.start_io(*args.server)
        server_process = getattr(client, "_server", None)
        stderr: list[bytes] = []
        drainer = asyncio.ensure_future(drain(getattr(server_process, "stderr", None), stderr))
        workspace = Path(tempfile.mkdtemp(prefix="trust-typing-"))
        path = workspace / "invoices.py"
        helpers_path = workspace / "helpers.py"
        uri, helpers_uri = path.as_uri(), helpers_path.as_uri()
        try:
            await asyncio.wait_for(
                client.initialize_async(
                    types.InitializeParams(
                        capabilities=types.ClientCapabilities(),
                        root_uri=workspace.as_uri(),
                        initialization_options={
                            "backends": {"ollama": {"url": srv.url}},
                            "fallback": {"order": ["ollama"]},
                        },
                    )
                ),
                30,
            )
            client.initialized(types.InitializedParams())
            text = EXISTING
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    types.TextDocumentItem(
                        uri=helpers_uri, language_id="python", version=1, text=HELPERS
                    )
                )
            )
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
                )
            )
            # Let start-up work (preheat: a model load) finish before the trace.
            await asyncio.sleep(1.0)
            trace_start = time.time()
            version = 1
            offset = len(text)
            sent: list[Sent] = []
            last_index = -1
            pending: dict[str, asyncio.Future[Any]] = {}
            started = time.perf_counter()

            def answered(record: Sent, future: asyncio.Future[Any]) -> None:
                record.answered_at = time.perf_counter()
                record.answered_wall = time.time()
                if future.cancelled():
                    record.error = "cancelled"
                elif future.exception() is not None:
                    record.error = str(future.exception())
                else:
                    result = future.result()
                    items = result.items if hasattr(result, "items") else (result or [])
                    record.items = [
                        str(i.insert_text if hasattr(i, "insert_text") else i) for i in items
                    ]
                    record.displayed = bool(record.items) and last_index == record.index

            for index, key in enumerate(session):
                await asyncio.sleep(key.delay_s)
                if args.cancel and pending:
                    for pending_id in list(pending):
                        client.protocol.notify(
                            types.CANCEL_REQUEST, types.CancelParams(id=pending_id)
                        )
                start_pos = utf16_position(text, offset)
                if key.char is None:
                    before = utf16_position(text, offset - 1)
                    change = types.TextDocumentContentChangePartial(
                        range=types.Range(start=before, end=start_pos), text=""
                    )
                    text = text[: offset - 1] + text[offset:]
                    offset -= 1
                else:
                    change = types.TextDocumentContentChangePartial(
                        range=types.Range(start=start_pos, end=start_pos), text=key.char
                    )
                    text = text[:offset] + key.char + text[offset:]
                    offset += 1
                version += 1
                client.text_document_did_change(
                    types.DidChangeTextDocumentParams(
                        text_document=types.VersionedTextDocumentIdentifier(
                            version=version, uri=uri
                        ),
                        content_changes=[change],
                    )
                )
                last_index = index
                record = Sent(index, time.perf_counter())
                sent.append(record)
                msg_id = f"inline-{index}"
                future = asyncio.wrap_future(
                    client.protocol.send_request(
                        types.TEXT_DOCUMENT_INLINE_COMPLETION,
                        types.InlineCompletionParams(
                            text_document=types.TextDocumentIdentifier(uri=uri),
                            position=utf16_position(text, offset),
                            context=types.InlineCompletionContext(
                                trigger_kind=types.InlineCompletionTriggerKind.Automatic
                            ),
                        ),
                        msg_id=msg_id,
                    )
                )
                pending[msg_id] = future

                def done(f: asyncio.Future[Any], r: Sent = record, m: str = msg_id) -> None:
                    answered(r, f)
                    pending.pop(m, None)

                future.add_done_callback(done)
            # The session ends with the user reading the last suggestion.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending.values(), return_exceptions=True), 5)
            wall = time.perf_counter() - started
            await asyncio.sleep(0.3)  # the last stream's records settle at the test server
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.shutdown_async(None), 5)
                client.exit(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.stop(), 5)  # type: ignore[no-untyped-call]
            drainer.cancel()

        generations = [
            r
            for r in srv.requests_to("/api/generate")
            if r.time >= trace_start and isinstance(r.body, dict) and r.body.get("prompt")
        ]
    shown = [
        (record.answered_wall, item.strip())
        for record in sent
        if record.displayed
        for item in record.items
        if item.strip()
    ]
    total = wasted = cancelled_streams = 0
    for request in generations:
        total += request.tokens_sent
        body = request.body
        options = body.get("options") or {}
        reply = replies.answers.get((str(body.get("prompt")), str(body.get("suffix") or "")))
        text_out = sent_text(reply or "", request.tokens_sent, list(options.get("stop") or []))
        cut_short = request.disconnected or not request.completed
        cancelled_streams += cut_short
        # What could be shown of it: all of it, or the complete lines of a cut stream.
        showable = text_out[: max(0, text_out.rfind("\n"))] if cut_short else text_out
        seen = any(at >= request.time and item in showable for at, item in shown)
        if not seen:
            wasted += request.tokens_sent
        elif cut_short and "\n" in text_out:
            # The complete lines of a cut stream can be shown (from the cache); the
            # tokens of its unfinished last line cannot.
            wasted += len(tokenize(text_out[text_out.rfind("\n") + 1 :]))
        if args.verbose and (cut_short or not seen):
            how = f"cut after {request.tokens_sent} tokens" if cut_short else "complete"
            print(
                f"  +{request.time - trace_start:.2f} s {how}, "
                f"{'partly shown' if seen else 'never shown'}: {text_out!r}"
            )
    latencies = [
        (record.answered_at - record.sent_at) * 1000
        for record in sent
        if record.displayed and record.answered_at is not None
    ]
    if args.show_log and stderr:
        sys.stderr.write(b"".join(stderr).decode(errors="replace")[-4000:])
    return Outcome(
        model=model,
        lsp_requests=len(sent),
        answered=sum(1 for r in sent if r.answered_at is not None),
        unanswered=sum(1 for r in sent if r.answered_at is None),
        displayed=sum(1 for r in sent if r.displayed),
        cancelled_by_client=sum(1 for r in sent if r.error is not None),
        backend_requests=len(generations),
        backend_tokens=total,
        wasted_tokens=wasted,
        cancelled_streams=cancelled_streams,
        display_latency_ms=latencies,
        wall_s=wall,
    )


def waste_share(outcome: Outcome) -> float:
    return outcome.wasted_tokens / outcome.backend_tokens if outcome.backend_tokens else 0.0


def meets(outcome: Outcome, pauses: int) -> tuple[bool, bool, bool]:
    """(backend requests ≤ pauses + 2, wasted ≤ 10 %, unanswered = 0)."""
    return (
        outcome.backend_requests <= pauses + 2,
        waste_share(outcome) <= 0.10,
        outcome.unanswered == 0,
    )


def report(outcome: Outcome, pauses: int) -> bool:
    share = waste_share(outcome)
    ok_requests, ok_waste, ok_answers = meets(outcome, pauses)
    latency = (
        f"median {statistics.median(outcome.display_latency_ms):.0f} ms"
        if outcome.display_latency_ms
        else "n/a"
    )
    print(f"--- model: {outcome.model} ({outcome.wall_s:.1f} s of typing)")
    print(f"LSP requests (inlineCompletion): {outcome.lsp_requests}")
    print(
        f"  answered: {outcome.answered} (errors/cancelled: {outcome.cancelled_by_client}), "
        f"unanswered: {outcome.unanswered}  [target 0: {'ok' if ok_answers else 'MISSED'}]"
    )
    print(f"  displayed suggestions: {outcome.displayed} (answer latency {latency})")
    print(
        f"backend requests: {outcome.backend_requests}  "
        f"[target ≤ {pauses + 2}: {'ok' if ok_requests else 'MISSED'}]"
    )
    print(f"backend tokens: {outcome.backend_tokens}")
    print(
        f"wasted tokens: {outcome.wasted_tokens} ({share:.1%}; "
        f"{outcome.cancelled_streams} streams cancelled)  "
        f"[target ≤ 10%: {'ok' if ok_waste else 'MISSED'}]"
    )
    return ok_requests and ok_waste and ok_answers


def summary(model: str, outcomes: list[Outcome], pauses: int) -> None:
    """One line over several seeds: how many runs met each target, and the totals."""
    checks = [meets(o, pauses) for o in outcomes]
    tokens = sum(o.backend_tokens for o in outcomes)
    wasted = sum(o.wasted_tokens for o in outcomes)
    print(
        f"=== {model}, {len(outcomes)} seeds: backend requests ≤ {pauses + 2} in "
        f"{sum(c[0] for c in checks)}/{len(checks)} runs "
        f"(max {max(o.backend_requests for o in outcomes)}); wasted ≤ 10 % in "
        f"{sum(c[1] for c in checks)}/{len(checks)} runs (all runs: {wasted}/{tokens} = "
        f"{wasted / tokens if tokens else 0:.1%}, worst "
        f"{max(waste_share(o) for o in outcomes):.1%}); unanswered "
        f"{sum(o.unanswered for o in outcomes)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seeds", type=int, default=1, help="run this many seeds from --seed")
    parser.add_argument("--token-delay-ms", type=float, default=30.0)
    parser.add_argument("--model", choices=["echo", "oracle", "both"], default="both")
    parser.add_argument("--cancel", action="store_true", help="send $/cancelRequest (VS Code)")
    parser.add_argument("--show-log", action="store_true", help="print the server's log tail")
    parser.add_argument("--verbose", action="store_true", help="print each cut/unseen generation")
    parser.add_argument(
        "--server",
        nargs="+",
        default=[sys.executable, "-m", "trust_lsp.server"],
        help="the server command (default: this Python, -m trust_lsp.server)",
    )
    args = parser.parse_args()
    models = ["echo", "oracle"] if args.model == "both" else [args.model]
    client = "cancels" if args.cancel else "does not cancel"
    print(
        f"typing trace: {KEYSTROKES} keystrokes, {PAUSES} pauses, seed {args.seed}"
        f"{f' (+{args.seeds - 1})' if args.seeds > 1 else ''}, "
        f"{args.token_delay_ms:g} ms/token, client {client}"
    )
    ok = True
    for model in models:
        outcomes = []
        for seed in range(args.seed, args.seed + args.seeds):
            if args.seeds > 1:
                print(f"seed {seed}")
            outcome = asyncio.run(run_trace(args, model, seed))
            outcomes.append(outcome)
            ok = report(outcome, PAUSES) and ok
        if len(outcomes) > 1:
            summary(model, outcomes, PAUSES)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
