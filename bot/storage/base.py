"""The contract every storage backend honours (``Storage``), the records it keeps and their helpers.

Each backend module imports only this one, so the backends never import each other.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Protocol, runtime_checkable

Clock = Callable[[], float]
log = logging.getLogger("faqbot.storage")

CLEANUP_SECONDS = 60.0
"""How often expired state is deleted (and old questions, past the retention)."""

FOREVER_SECONDS = 10 * 365 * 86400.0
"""A window that never ends in practice (the corpus generation counter)."""

QUESTION_LOG_CAP = 1_000_000
"""The most question records a capped backend (memory, Redis) keeps; the oldest go first."""

ACCEPTED_URL_FORMS = (
    "memory://",
    "sqlite:///absolute/path.db",
    "sqlite://relative/path.db",
    "a plain path ending in .db, .sqlite or .sqlite3",
    "redis://host:port/db",
)


class StorageError(Exception):
    """The backend is unreachable or failed; callers degrade gracefully instead of crashing."""


class ClaimTaken(Exception):
    """A delivery's claim (``Writes.with_claim``) is held by another holder: nothing was written."""


@dataclass(frozen=True)
class QuestionRecord:
    """One asked question as logged for stats and the report of declined questions."""

    time: float
    user: str
    channel: str
    text: str
    lang: str
    outcome: str
    faq_id: str | None
    best_id: str | None
    score: float

    def as_row(self) -> tuple:
        """The fields in order, for an INSERT (much cheaper than dataclasses.asdict)."""
        return (
            self.time,
            self.user,
            self.channel,
            self.text,
            self.lang,
            self.outcome,
            self.faq_id,
            self.best_id,
            self.score,
        )

    def to_json(self) -> str:
        """Serialise for backends that store text, keeping Chinese readable."""
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> QuestionRecord:
        """Rebuild a record stored by ``to_json``, ignoring fields a later version may add."""
        data = json.loads(text)
        known = {field.name for field in fields(cls)}
        return cls(**{name: value for name, value in data.items() if name in known})


@dataclass
class QuestionCounts:
    """How many questions were asked, in total and per outcome, day (UTC), entry, language and channel."""

    total: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    per_day: dict[str, int] = field(default_factory=dict)
    per_entry: dict[str, int] = field(default_factory=dict)
    per_language: dict[str, int] = field(default_factory=dict)
    per_channel: dict[str, int] = field(default_factory=dict)


def utc_day(epoch: float) -> str:
    """The UTC date of a time, as YYYY-MM-DD."""
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def count_questions(records: list[QuestionRecord]) -> QuestionCounts:
    """QuestionCounts of records already in memory (the memory and Redis backends)."""
    counts = QuestionCounts(total=len(records))
    for record in records:
        for table, key in (
            (counts.outcomes, record.outcome),
            (counts.per_day, utc_day(record.time)),
            (counts.per_entry, record.faq_id),
            (counts.per_language, record.lang),
            (counts.per_channel, record.channel),
        ):
            if key:
                table[key] = table.get(key, 0) + 1
    return counts


@dataclass
class Writes:
    """What one message changes (its session's state, its line in the question log), written in one step.

    Writing both at once costs one commit per message instead of one per change, and a crash leaves
    either both or neither.
    """

    session: tuple[str, str, float] | None = None  # key, state as JSON, ttl in seconds
    question: QuestionRecord | None = None
    more_questions: list[QuestionRecord] = field(default_factory=list)  # a message that asks several things
    claim: tuple[str, str, float] | None = None  # key, holder, ttl in seconds; only deliver honours it

    def with_session(self, key: str, state: dict, ttl_seconds: float) -> Writes:
        """Store a session's state for ttl_seconds (replacing any earlier state)."""
        require_positive_seconds("ttl_seconds", ttl_seconds)
        self.session = (key, encode_session(state), ttl_seconds)
        return self

    def with_question(self, record: QuestionRecord) -> Writes:
        """Append a question to the durable log (a message asking several things appends one per question)."""
        if self.question is None:
            self.question = record
        else:
            self.more_questions.append(record)
        return self

    def with_claim(self, key: str, holder: str, ttl_seconds: float) -> Writes:
        """Claim key for holder for ttl_seconds in the same step; deliver refuses it when another holds it.

        The WeChat channel claims a request's (timestamp, nonce) with the message it carried, so a replayed
        query string with another message is refused, without a write of its own.
        """
        require_positive_seconds("ttl_seconds", ttl_seconds)
        self.claim = (key, holder, ttl_seconds)
        return self

    @property
    def questions(self) -> list[QuestionRecord]:
        """Every question to log, in order."""
        return [] if self.question is None else [self.question, *self.more_questions]

    def __bool__(self) -> bool:
        return self.session is not None or self.question is not None


@runtime_checkable
class Storage(Protocol):
    """What the conversation layer and the webhook need from shared state."""

    kind: str

    def load_session(self, key: str) -> dict | None:
        """Return the live conversation state of a session, or None if absent or expired."""
        ...

    def save_session(self, key: str, state: dict, ttl_seconds: float) -> None:
        """Store a session's state so that it lives ttl_seconds from now."""
        ...

    def deliver(self, key: str, reply: str, ttl_seconds: float, writes: Writes) -> str:
        """Keep reply as the answer to delivery key for ttl_seconds and apply writes, in one transaction.

        If the delivery already has a live reply (a retry raced this one and won), nothing is written and
        that earlier reply is returned, so a message is answered and counted once; otherwise reply is.
        Raises ClaimTaken, writing nothing, when writes carry a claim that another holder has (a replay).
        """
        ...

    def load_reply(self, key: str) -> str | None:
        """Return the stored reply to a delivery, or None if not (yet) stored or expired."""
        ...

    def load_reply_and_session(self, reply_key: str, session_key: str) -> tuple[str | None, dict | None]:
        """load_reply and load_session in one read (one statement or round trip): a message's first look.

        A WeChat message needs both before it is answered, the stored reply (is this a retry?) and the
        sender's conversation; reading them together halves the reads on every message.
        """
        ...

    def hit(self, key: str, window_seconds: float) -> int:
        """Count one event in key's fixed window (started by its first hit) and return the count."""
        ...

    def hits(self, key: str) -> int:
        """Return the count of key's live window without counting (0 when none is live)."""
        ...

    def put_state(self, name: str, member: str, value: str, ttl_seconds: float) -> None:
        """Set one member of a small shared table (workers' reports) for ttl_seconds."""
        ...

    def get_state(self, name: str) -> dict[str, str]:
        """Return the live members of a shared table."""
        ...

    def log_question(self, record: QuestionRecord) -> None:
        """Append a question to the durable log."""
        ...

    def write(self, writes: Writes) -> None:
        """Apply every change in writes in one transaction: all of them, or none and a StorageError."""
        ...

    def questions(self, since: float | None = None, outcome: str | None = None) -> list[QuestionRecord]:
        """Return logged questions with time >= since and the given outcome, oldest first."""
        ...

    def question_counts(self, since: float | None = None) -> QuestionCounts:
        """Counts of the logged questions with time >= since, without handing every record to Python."""
        ...

    def cleanup(self) -> int:
        """Delete expired state, and questions older than the retention; return how many were deleted."""
        ...

    def ping(self) -> bool:
        """Return True when the backend answers, False (never an exception) when it does not."""
        ...

    def close(self) -> None:
        """Release connections; the object must not be used afterwards."""
        ...


def require_positive_seconds(name: str, seconds: float) -> None:
    """Reject a TTL or window that every backend would treat differently (zero, negative, NaN)."""
    if not seconds > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {seconds!r}")


def encode_session(state: dict) -> str:
    """Serialise session state to JSON so that every backend stores the same text."""
    if not isinstance(state, dict):
        raise TypeError(f"session state must be a dict, got {type(state).__name__}")
    return json.dumps(state, ensure_ascii=False, separators=(",", ":"))


def decode_session(text: str) -> dict:
    """Parse stored session JSON, reporting corrupt data as a storage failure."""
    try:
        state = json.loads(text)
    except ValueError as exc:
        raise StorageError(f"stored session state is not valid JSON: {exc}") from exc
    if not isinstance(state, dict):
        raise StorageError("stored session state is not a JSON object")
    return state


def select_questions(
    records: list[QuestionRecord], since: float | None, outcome: str | None
) -> list[QuestionRecord]:
    """Apply the ``questions`` filters and order oldest first (ties keep logging order)."""
    chosen = [
        record
        for record in records
        if (since is None or record.time >= since) and (outcome is None or record.outcome == outcome)
    ]
    chosen.sort(key=lambda record: record.time)
    return chosen
