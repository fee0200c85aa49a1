"""In-process storage: for tests and single-process use."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from bot.storage.base import (
    CLEANUP_SECONDS,
    QUESTION_LOG_CAP,
    ClaimTaken,
    Clock,
    QuestionCounts,
    QuestionRecord,
    Writes,
    count_questions,
    decode_session,
    require_positive_seconds,
    select_questions,
)


@dataclass
class _Expiring:
    """A value with the clock time at which it stops existing."""

    value: Any
    expires_at: float


class MemoryStorage:
    """State kept in this process only: for tests and single-process use; thread-safe."""

    kind = "memory"

    def __init__(
        self,
        clock: Clock = time.time,
        question_cap: int = QUESTION_LOG_CAP,
        question_log_seconds: float | None = None,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, _Expiring] = {}
        self._replies: dict[str, _Expiring] = {}
        self._counters: dict[str, _Expiring] = {}
        self._state: dict[tuple[str, str], _Expiring] = {}
        self._questions: deque[QuestionRecord] = deque(maxlen=question_cap)
        self._question_log_seconds = question_log_seconds
        self._next_cleanup = clock() + CLEANUP_SECONDS

    def _tidy(self, now: float) -> None:
        """Delete expired entries once a cleanup period has passed (caller holds the lock).

        A process that runs for weeks would otherwise keep every session it ever saw.
        """
        if now >= self._next_cleanup:
            self._next_cleanup = now + CLEANUP_SECONDS
            self._remove_expired(now)

    def _live(self, table: dict[str, _Expiring], key: str, now: float) -> _Expiring | None:
        """Return key's entry unless it has expired (caller holds the lock)."""
        entry = table.get(key)
        if entry is None or entry.expires_at <= now:
            return None
        return entry

    def load_session(self, key: str) -> dict | None:
        """Return the live conversation state of a session, or None if absent or expired."""
        with self._lock:
            entry = self._live(self._sessions, key, self._clock())
        return None if entry is None else decode_session(entry.value)

    def save_session(self, key: str, state: dict, ttl_seconds: float) -> None:
        """Store a session's state (as JSON, like the other backends) for ttl_seconds."""
        self.write(Writes().with_session(key, state, ttl_seconds))

    def write(self, writes: Writes) -> None:
        """Apply every change under one lock."""
        with self._lock:
            now = self._clock()
            self._tidy(now)
            self._apply(writes, now)

    def _apply(self, writes: Writes, now: float) -> None:
        """Apply the changes (caller holds the lock)."""
        if writes.session is not None:
            key, text, ttl = writes.session
            self._sessions[key] = _Expiring(text, now + ttl)
        self._questions.extend(writes.questions)

    def deliver(self, key: str, reply: str, ttl_seconds: float, writes: Writes) -> str:
        """Keep the first live reply to a delivery and apply its writes, or return the earlier reply."""
        require_positive_seconds("ttl_seconds", ttl_seconds)
        with self._lock:
            now = self._clock()
            self._tidy(now)
            earlier = self._live(self._replies, key, now)
            if earlier is not None:
                return earlier.value
            if writes.claim is not None:
                claim, holder, claim_ttl = writes.claim
                held = self._live(self._replies, claim, now)
                if held is not None and held.value != holder:
                    raise ClaimTaken(claim)
                self._replies[claim] = _Expiring(holder, now + claim_ttl)
            self._replies[key] = _Expiring(reply, now + ttl_seconds)
            self._apply(writes, now)
            return reply

    def load_reply(self, key: str) -> str | None:
        """Return the stored reply to a delivery, or None."""
        with self._lock:
            entry = self._live(self._replies, key, self._clock())
        return None if entry is None else entry.value

    def load_reply_and_session(self, reply_key: str, session_key: str) -> tuple[str | None, dict | None]:
        """The stored reply to a delivery and a session's live state, under one lock."""
        with self._lock:
            now = self._clock()
            reply = self._live(self._replies, reply_key, now)
            session = self._live(self._sessions, session_key, now)
        return (
            None if reply is None else reply.value,
            None if session is None else decode_session(session.value),
        )

    def hit(self, key: str, window_seconds: float) -> int:
        """Count one event in key's current window and return the count."""
        require_positive_seconds("window_seconds", window_seconds)
        with self._lock:
            now = self._clock()
            self._tidy(now)
            entry = self._live(self._counters, key, now)
            if entry is None:
                entry = self._counters[key] = _Expiring(0, now + window_seconds)
            entry.value += 1
            return entry.value

    def log_question(self, record: QuestionRecord) -> None:
        """Append a question to the log (the oldest drop off past the cap)."""
        self.write(Writes().with_question(record))

    def questions(self, since: float | None = None, outcome: str | None = None) -> list[QuestionRecord]:
        """Return logged questions filtered by since/outcome, oldest first."""
        with self._lock:
            records = list(self._questions)
        return select_questions(records, since, outcome)

    def hits(self, key: str) -> int:
        """Return the count of key's live window without counting."""
        with self._lock:
            entry = self._live(self._counters, key, self._clock())
        return 0 if entry is None else int(entry.value)

    def put_state(self, name: str, member: str, value: str, ttl_seconds: float) -> None:
        """Set one member of a shared table for ttl_seconds."""
        require_positive_seconds("ttl_seconds", ttl_seconds)
        with self._lock:
            self._state[(name, member)] = _Expiring(value, self._clock() + ttl_seconds)

    def get_state(self, name: str) -> dict[str, str]:
        """Return the live members of a shared table."""
        with self._lock:
            now = self._clock()
            return {m: e.value for (n, m), e in self._state.items() if n == name and e.expires_at > now}

    def question_counts(self, since: float | None = None) -> QuestionCounts:
        """Counts of the logged questions with time >= since."""
        return count_questions(self.questions(since=since))

    def cleanup(self) -> int:
        """Delete expired entries and questions past the retention; return how many were deleted."""
        with self._lock:
            return self._remove_expired(self._clock())

    def _remove_expired(self, now: float) -> int:
        """Delete what has expired (caller holds the lock)."""
        removed = 0
        for table in (self._sessions, self._replies, self._counters, self._state):
            expired = [key for key, entry in table.items() if entry.expires_at <= now]
            for key in expired:
                del table[key]
            removed += len(expired)
        if self._question_log_seconds is not None:
            cutoff = now - self._question_log_seconds
            while self._questions and self._questions[0].time < cutoff:
                self._questions.popleft()
                removed += 1
        return removed

    def ping(self) -> bool:
        """Memory is always reachable."""
        return True

    def close(self) -> None:
        """Nothing to release."""
