"""The `trust` command through its public entry point, against the Ollama test server."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import time
from pathlib import Path

from tests.fakes.ollama_server import OllamaTestServer, tool_call

from .conftest import CliEnv


def read_until(stream: object, needle: str, timeout: float = 30) -> str:
    """Read a text pipe until `needle` has appeared (or the timeout passes)."""
    seen = ""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()  # type: ignore[attr-defined]
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = stream.readline()  # type: ignore[attr-defined]
            if not chunk:
                break
            seen += chunk
    return seen


def test_ask_streams_the_answer_and_says_who_answered(
    cli: CliEnv, ollama_server: OllamaTestServer
) -> None:
    ollama_server.reply("The answer is forty-two.")
    result = cli.run("ask", "What is the answer?")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "The answer is forty-two.\n"
    assert "answered by ollama (qwen2.5-coder:7b)" in result.stderr
    sent = ollama_server.last_request("/api/chat").json
    assert sent["messages"][-1]["content"] == "What is the answer?"
    assert sent["stream"] is True


def test_ask_output_arrives_before_the_answer_ends(
    cli: CliEnv, ollama_server: OllamaTestServer
) -> None:
    ollama_server.reply("first\nsecond\nthird\nfourth\n")
    ollama_server.token_delay_s = 0.4
    proc = cli.popen("ask", "count")
    assert proc.stdout is not None
    first = proc.stdout.readline()
    still_running = proc.poll() is None
    rest = proc.stdout.read()  # communicate() would bypass what readline() buffered
    _, err = proc.communicate(timeout=60)
    assert first == "first\n"
    assert still_running, "the first line should be printed while the answer is still streaming"
    assert rest.startswith("second")
    assert proc.returncode == 0, err


def test_ask_about_selected_lines_of_a_file(cli: CliEnv, ollama_server: OllamaTestServer) -> None:
    source = cli.workspace / "calc.py"
    source.write_text("import os\n\ndef add(a, b):\n    return a + b\n\nprint(add(1, 2))\n")
    result = cli.run("ask", "Explain this", "--file", "calc.py", "--selection", "3:4")
    assert result.returncode == 0, result.stderr
    messages = ollama_server.last_request("/api/chat").json["messages"]
    sent = "\n".join(m["content"] for m in messages)
    # The selected lines are marked as the selection (the file around them is context).
    assert "Selected code (lines 3-4):\n```py\ndef add(a, b):\n    return a + b" in sent
    assert messages[-1]["content"].rstrip().endswith("Explain this")


def test_ask_with_a_bad_selection_is_one_line_and_exit_1(cli: CliEnv) -> None:
    (cli.workspace / "a.py").write_text("x = 1\n")
    result = cli.run("ask", "q", "--file", "a.py", "--selection", "9:3")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("trust: --selection")
    assert len(result.stderr.strip().splitlines()) == 1


def test_complete_prints_the_completion(cli: CliEnv, ollama_server: OllamaTestServer) -> None:
    (cli.workspace / "m.py").write_text("def add(a, b):\n    return \n")
    ollama_server.reply("a + b")
    result = cli.run("complete", "m.py:2:12")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "a + b"
    sent = ollama_server.last_request("/api/generate").json
    assert sent["model"] == "qwen2.5-coder:1.5b"
    assert sent["prompt"].endswith("return ")
    assert "suffix" in sent  # the coder model has the insert capability: native FIM


def test_complete_rejects_a_position_past_the_end(cli: CliEnv) -> None:
    (cli.workspace / "m.py").write_text("x = 1\n")
    result = cli.run("complete", "m.py:7:1")
    assert result.returncode == 1
    assert "past the end" in result.stderr


def test_models_lists_capabilities(cli: CliEnv) -> None:
    result = cli.run("models", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    coder = next(m for m in listing["ollama"] if m["name"] == "qwen2.5-coder:1.5b")
    assert "insert" in coder["capabilities"]
    assert coder["size"] > 0


def test_pull_reports_progress_then_the_model_is_there(
    cli: CliEnv, ollama_server: OllamaTestServer
) -> None:
    result = cli.run("pull", "starcoder2:3b")
    assert result.returncode == 0, result.stderr
    steps = result.stderr
    assert "pulling manifest" in steps
    assert "%" in steps  # per-layer progress with sizes
    assert "success" in steps
    assert "starcoder2:3b" in ollama_server.models.names()


def test_pull_failure_is_reported(cli: CliEnv, ollama_server: OllamaTestServer) -> None:
    ollama_server.fail_pull("nope:1b")
    result = cli.run("pull", "nope:1b")
    assert result.returncode == 1
    assert "file does not exist" in result.stderr


def test_status_exit_code_follows_backend_health(
    cli: CliEnv, ollama_server: OllamaTestServer
) -> None:
    up = cli.run("status")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "✓ ollama" in up.stdout
    ollama_server.down()
    down = cli.run("status")
    assert down.returncode == 3
    assert "✗ ollama" in down.stdout
    assert "ollama serve" in down.stdout  # says what to do
    report = json.loads(cli.run("doctor", "--json").stdout)
    assert report["ok"] is False
    assert report["backends"]["ollama"]["healthy"] is False


def test_status_never_contacts_the_cloud_in_local_mode(cli: CliEnv) -> None:
    cli.env["TRUST_BACKENDS__CLOUD__BASE_URL"] = "http://127.0.0.1:9/v1"
    report = json.loads(cli.run("status", "--json").stdout)
    assert report["privacy"] == "local"
    assert report["backends"]["cloud"]["allowed"] is False


def test_config_show_names_the_layer_of_each_value(cli: CliEnv) -> None:
    (cli.workspace / ".trust").mkdir()
    (cli.workspace / ".trust" / "config.toml").write_text("[completion]\ndebounce_ms = 300\n")
    cli.env["TRUST_CHAT__MAX_TOKENS"] = "99"
    result = cli.run("config", "show", "--json", "--set", "completion.max_tokens=7")
    assert result.returncode == 0, result.stderr
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    assert rows["completion.debounce_ms"] == {
        "key": "completion.debounce_ms",
        "value": 300,
        "layer": "workspace",
    }
    assert rows["chat.max_tokens"]["value"] == 99
    assert rows["chat.max_tokens"]["layer"] == "env"
    assert rows["completion.max_tokens"]["value"] == 7
    assert rows["completion.max_tokens"]["layer"] == "client"
    assert rows["privacy.mode"]["layer"] == "default"


def test_config_set_writes_the_user_file_and_rejects_bad_values(cli: CliEnv) -> None:
    ok = cli.run("config", "set", "completion.debounce_ms", "250")
    assert ok.returncode == 0, ok.stderr
    user_file = Path(cli.env["XDG_CONFIG_HOME"]) / "trust" / "config.toml"
    assert "debounce_ms = 250" in user_file.read_text()
    shown = json.loads(cli.run("config", "show", "--json").stdout)
    assert {"key": "completion.debounce_ms", "value": 250, "layer": "user"} in shown
    bad = cli.run("config", "set", "completion.debounce_ms", "soon")
    assert bad.returncode == 4
    assert "completion.debounce_ms" in bad.stderr
    unknown = cli.run("config", "set", "completion.debounce", "1")
    assert unknown.returncode == 4
    assert "debounce_ms" in unknown.stderr  # did-you-mean


def test_chat_session_over_stdin_with_a_cancelled_answer(
    cli: CliEnv, ollama_server: OllamaTestServer
) -> None:
    ollama_server.script_chat(
        [
            "Hello there.",
            "one two three four five six seven eight nine ten eleven twelve",
            "After the interruption.",
        ]
    )
    proc = cli.popen("chat")
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("hello\n")
    proc.stdin.flush()
    assert "Hello there." in read_until(proc.stdout, "Hello there.")

    ollama_server.token_delay_s = 0.3
    proc.stdin.write("count slowly\n")
    proc.stdin.flush()
    ollama_server.wait_for(lambda: len(ollama_server.requests_to("/api/chat")) >= 2, 30)
    time.sleep(0.7)  # a few tokens in
    proc.send_signal(signal.SIGINT)
    ollama_server.wait_for(lambda: len(ollama_server.disconnects) >= 1, 30)

    ollama_server.token_delay_s = 0.0
    proc.stdin.write("and now?\n")
    proc.stdin.write("/exit\n")
    proc.stdin.flush()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "(answer interrupted)" in err
    assert "After the interruption." in out
    history = ollama_server.last_request("/api/chat").json["messages"]
    turns = [m for m in history if m["role"] != "system"]
    assert [m["role"] for m in turns] == ["user", "assistant", "user", "assistant", "user"]
    assert turns[3]["content"].startswith("one")
    assert "[this answer was interrupted]" in turns[3]["content"]


def run_chat(cli: CliEnv, script: str) -> subprocess.CompletedProcess[str]:
    return cli.run("chat", input=script, timeout=60)


def test_chat_tools_edit_a_file_after_the_user_says_yes(
    cli: CliEnv, ollama_server: OllamaTestServer
) -> None:
    target = cli.workspace / "greet.py"
    target.write_text("print('helo')\n")
    ollama_server.script_chat(
        [
            tool_call(
                "edit_file",
                {"path": "greet.py", "old_string": "helo", "new_string": "hello"},
            ),
            "Fixed the typo.",
        ]
    )
    result = run_chat(cli, "fix the typo in greet.py\ny\n/exit\n")
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "print('hello')\n"
    assert "greet.py" in result.stderr  # the approval prompt named the file
    assert "Fixed the typo." in result.stdout
    tool_result = [
        m for m in ollama_server.last_request("/api/chat").json["messages"] if m["role"] == "tool"
    ]
    assert tool_result and "greet.py" in tool_result[0]["content"]


def test_chat_tools_leave_the_file_alone_when_the_user_says_no(
    cli: CliEnv, ollama_server: OllamaTestServer
) -> None:
    target = cli.workspace / "greet.py"
    target.write_text("print('helo')\n")
    ollama_server.script_chat(
        [
            tool_call(
                "edit_file",
                {"path": "greet.py", "old_string": "helo", "new_string": "hello"},
            ),
            "Understood, I left it.",
        ]
    )
    result = run_chat(cli, "fix the typo in greet.py\nn\n/exit\n")
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "print('helo')\n"
    tool_result = [
        m for m in ollama_server.last_request("/api/chat").json["messages"] if m["role"] == "tool"
    ]
    assert "declined" in tool_result[0]["content"].lower()
