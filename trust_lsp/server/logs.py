"""Logging set-up for the server: a file or stderr (never stdout: that is the LSP channel),
with secrets redacted from every record."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFilter(logging.Filter):
    """Replaces every occurrence of a secret in a record's message by `***`.

    pygls logs whole messages (the initialize params, every message sent); the token a
    client presents must never reach the log, whatever logs it.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler
            return True
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, "***")
        if redacted != message:
            record.msg = redacted
            record.args = None
        if record.exc_text:
            for secret in self.secrets:
                record.exc_text = record.exc_text.replace(secret, "***")
        return True


def configure_logging(
    level: str, log_file: str | None, secrets: Iterable[str] = ()
) -> RedactingFilter:
    """Send logs to `log_file` (or stderr) at `level`; returns the redaction filter."""
    handler: logging.Handler
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    redactor = RedactingFilter(secrets)
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # pygls logs every message it sends at INFO: far too chatty below DEBUG.
    # httpx logs every HTTP request at INFO: same.
    quiet = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    for name in ("pygls", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(quiet)
    return redactor
