"""Chat sessions: the history of each conversation, kept in memory by session id."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

DEFAULT_MAX_SESSIONS = 64
# A session never keeps more turns than this, whatever the token budget (memory bound).
MAX_TURNS = 200


@dataclass(slots=True)
class Turn:
    """One exchange. `interrupted`: the answer was cut short (cancelled or failed)."""

    user: str
    assistant: str
    interrupted: bool = False
    backend: str = ""
    model: str = ""


@dataclass(slots=True)
class ChatSession:
    id: str
    turns: list[Turn] = field(default_factory=list)
    updated_at: float = field(default_factory=time.monotonic)

    def add(self, turn: Turn) -> None:
        self.turns.append(turn)
        if len(self.turns) > MAX_TURNS:
            del self.turns[: len(self.turns) - MAX_TURNS]
        self.updated_at = time.monotonic()


class SessionStore:
    """Sessions by id; the least recently used are forgotten beyond `max_sessions`."""

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        self._sessions: OrderedDict[str, ChatSession] = OrderedDict()
        self._max = max(1, max_sessions)

    def new(self) -> ChatSession:
        """A fresh, empty session with a new id."""
        return self.get(uuid.uuid4().hex)

    def get(self, session_id: str) -> ChatSession:
        """The session with this id, created empty when unknown (e.g. after a restart)."""
        session = self._sessions.get(session_id)
        if session is None:
            session = ChatSession(session_id)
            self._sessions[session_id] = session
            while len(self._sessions) > self._max:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(session_id)
        return session

    def peek(self, session_id: str) -> ChatSession | None:
        """The session if it exists, without creating or touching it."""
        return self._sessions.get(session_id)

    def __len__(self) -> int:
        return len(self._sessions)
