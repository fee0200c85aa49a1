"""Shared state for the bot: sessions, WeChat retry dedupe, the question log and rate-limit counters.

Every backend honours the same contract (``Storage`` in ``base``) so that the conversation layer and the
WeChat webhook can run on one process (``MemoryStorage``), on several worker processes of one machine
(``SQLiteStorage``) or on several servers (``RedisStorage``).
"""

from __future__ import annotations

import time
from typing import Any

from bot.storage.base import (
    ACCEPTED_URL_FORMS,
    FOREVER_SECONDS,
    QUESTION_LOG_CAP,
    ClaimTaken,
    Clock,
    QuestionCounts,
    QuestionRecord,
    Storage,
    StorageError,
    Writes,
    decode_session,
    encode_session,
    require_positive_seconds,
    select_questions,
)
from bot.storage.memory import MemoryStorage
from bot.storage.sqlite import SQLiteStorage

__all__ = [
    "ACCEPTED_URL_FORMS",
    "FOREVER_SECONDS",
    "QUESTION_LOG_CAP",
    "ClaimTaken",
    "Clock",
    "MemoryStorage",
    "QuestionCounts",
    "QuestionRecord",
    "RedisStorage",
    "SQLiteStorage",
    "Storage",
    "StorageError",
    "Writes",
    "decode_session",
    "encode_session",
    "open_storage",
    "require_positive_seconds",
    "select_questions",
]

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def __getattr__(name: str) -> Any:
    """RedisStorage on first use: the redis client library is loaded only by deployments that use it."""
    if name == "RedisStorage":
        from bot.storage.redis import RedisStorage

        return RedisStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _sqlite_path_from_url(url: str) -> str:
    """Return the file path of a sqlite:// URL (three slashes: absolute; two: relative)."""
    path = url.removeprefix("sqlite://")
    if not path or path == "/":
        raise ValueError(f"storage URL {url!r} names no database file; accepted forms: {_forms()}")
    return path


def _forms() -> str:
    """Describe the accepted storage URLs for error messages."""
    return ", ".join(ACCEPTED_URL_FORMS)


def open_storage(url: str, clock: Clock = time.time, question_log_days: float = 0) -> Storage:
    """Open the backend a configuration URL names, so deployments choose storage without code.

    question_log_days > 0 deletes logged questions older than that many days (0 keeps them all).
    """
    keep = question_log_days * 86400 if question_log_days > 0 else None
    if url == "memory://":
        return MemoryStorage(clock=clock, question_log_seconds=keep)
    if url.startswith("sqlite://"):
        return SQLiteStorage(_sqlite_path_from_url(url), clock=clock, question_log_seconds=keep)
    if url.startswith(("redis://", "rediss://")):
        from bot.storage.redis import RedisStorage

        return RedisStorage(url, clock=clock)
    if "://" not in url and url.lower().endswith(_SQLITE_SUFFIXES):
        return SQLiteStorage(url, clock=clock, question_log_seconds=keep)
    raise ValueError(f"unsupported storage URL {url!r}; accepted forms: {_forms()}")
