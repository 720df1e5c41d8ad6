"""The prompt of a chat turn within its token budget, and sessions (pure)."""

from __future__ import annotations

from trust_lsp.features.chat.context import (
    INTERRUPTED_NOTE,
    WorkspaceContext,
    build_chat_messages,
    estimate_tokens,
    excerpt_around,
)
from trust_lsp.features.chat.sessions import MAX_TURNS, SessionStore, Turn


def test_prompt_only() -> None:
    built = build_chat_messages("hello", budget_tokens=1000)
    assert [m.role for m in built.messages] == ["system", "user"]
    assert built.messages[-1].content == "hello"
    assert built.dropped_turns == 0


def test_history_newest_kept_oldest_dropped_within_budget() -> None:
    history = [Turn(user=f"q{i} " + "x" * 400, assistant=f"a{i} " + "y" * 400) for i in range(20)]
    built = build_chat_messages("now", history=history, budget_tokens=1200)
    users = [m.content for m in built.messages if m.role == "user"]
    assert users[-1] == "now"
    assert built.dropped_turns > 0
    kept = len(history) - built.dropped_turns
    assert users[:-1] == [t.user for t in history[-kept:]]  # the newest, in order
    assert "earlier turns" in built.messages[0].content
    assert built.tokens <= 1200


def test_interrupted_turn_is_marked() -> None:
    built = build_chat_messages(
        "go on", history=[Turn("q", "partial", interrupted=True)], budget_tokens=1000
    )
    assert built.messages[2].content == "partial" + INTERRUPTED_NOTE


def test_workspace_context_in_the_system_message() -> None:
    text = "import os\n\ndef f():\n    return 1\n"
    ctx = WorkspaceContext(
        roots=["/r"],
        open_files=["/r/a.py", "/r/b.py"],
        current_path="/r/a.py",
        language="python",
        text=text,
        selection=(text.index("def"), len(text)),
        selection_lines=(3, 4),
    )
    system = build_chat_messages("why?", context=ctx, budget_tokens=2000).messages[0].content
    assert "Workspace roots: /r" in system
    assert "- /r/b.py" in system
    assert "Current file: /r/a.py (python)" in system
    assert "Selected code (lines 3-4):\n```python\ndef f():" in system
    assert "import os" in system  # the file excerpt, budget permitting


def test_huge_selection_and_file_are_clipped_to_the_budget() -> None:
    text = "x = 1\n" * 20000
    ctx = WorkspaceContext(text=text, selection=(0, len(text)), language="python")
    built = build_chat_messages("?", context=ctx, budget_tokens=1000)
    assert built.tokens <= 1100


def test_excerpt_around_keeps_whole_lines_near_the_selection() -> None:
    text = "".join(f"line {i}\n" for i in range(1000))
    middle = text.index("line 500")
    excerpt = excerpt_around(text, middle, middle + 5, 50)
    assert "line 500" in excerpt
    assert excerpt.startswith("line ") and len(excerpt) <= 200


def test_estimate_tokens() -> None:
    assert (
        estimate_tokens("") == 0 and estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2
    )


def test_sessions() -> None:
    store = SessionStore(max_sessions=2)
    a = store.new()
    b = store.get("b")
    store.get(a.id)  # touch a: b is now the oldest
    store.get("c")
    assert store.peek("b") is None and store.peek(a.id) is a and len(store) == 2
    assert b.id == "b"
    for i in range(MAX_TURNS + 5):
        a.add(Turn(str(i), ""))
    assert len(a.turns) == MAX_TURNS and a.turns[0].user == "5"
