"""Redis backend of ``bot.storage``: shared state for several servers, with Redis's own TTLs."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.storage.base import (
    QUESTION_LOG_CAP,
    ClaimTaken,
    QuestionCounts,
    QuestionRecord,
    StorageError,
    Writes,
    count_questions,
    decode_session,
    require_positive_seconds,
    select_questions,
)

DEFAULT_PREFIX = "faqbot:"
SOCKET_TIMEOUT_SECONDS = 0.5
HEALTH_CHECK_INTERVAL_SECONDS = 5
_QUESTION_PAGE = 10_000


# KEYS: reply, question log, session (or ""), claim (or ""). ARGV: reply, its TTL in ms, log cap, the
# questions as JSON lines (or ""), session state, its TTL in ms, claim holder, its TTL in ms. Returns the earlier
# reply, false when this one was kept, or {holder} when another holder has the claim (nothing written).
_DELIVER_SCRIPT = """
local earlier = redis.call('GET', KEYS[1])
if earlier then return earlier end
if KEYS[4] ~= '' then
  local holder = redis.call('GET', KEYS[4])
  if holder and holder ~= ARGV[7] then return {holder} end
  redis.call('SET', KEYS[4], ARGV[7], 'PX', ARGV[8])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[4] ~= '' then
  for question in string.gmatch(ARGV[4], '[^\\n]+') do redis.call('RPUSH', KEYS[2], question) end
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
end
if KEYS[3] ~= '' then redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[6]) end
return false
"""


def _milliseconds(seconds: float) -> int:
    """Convert a positive duration to the whole milliseconds Redis expects, never rounding to 0."""
    return max(1, math.ceil(seconds * 1000))


class RedisStorage:
    """State in Redis: for several worker processes on several servers.

    TTLs are Redis's own (``clock`` dates only the members of shared tables, which need one clock across
    servers), and ``cleanup`` has nothing to do: Redis deletes expired keys itself, and the question log is
    capped by length.
    """

    kind = "redis"

    def __init__(
        self,
        url: str,
        clock: Callable[[], float] = time.time,
        prefix: str = DEFAULT_PREFIX,
        question_cap: int = QUESTION_LOG_CAP,
        socket_timeout: float = SOCKET_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self._closed = False
        self._clock = clock
        self._prefix = prefix
        self._question_cap = question_cap
        with self._errors():
            # One retry without backoff: a connection broken by a Redis restart is replaced at once,
            # while an unreachable Redis still fails within a couple of socket timeouts.
            self._client = redis.Redis.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
                health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS,
                retry=Retry(NoBackoff(), 1),
                decode_responses=True,
            )
            self._deliver_script = self._client.register_script(_DELIVER_SCRIPT)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Report every redis-py failure as StorageError, never as a raw redis error."""
        try:
            yield
        except redis.exceptions.RedisError as exc:
            raise StorageError(f"Redis storage failed: {exc}") from exc

    def _key(self, kind: str, key: str) -> str:
        """Build the namespaced Redis key for one kind of state."""
        return f"{self._prefix}{kind}:{key}"

    @property
    def _questions_key(self) -> str:
        """The Redis list holding the question log as JSON, oldest first."""
        return f"{self._prefix}questions"

    def load_session(self, key: str) -> dict | None:
        """Return the live conversation state of a session, or None if absent or expired."""
        with self._errors():
            text = self._client.get(self._key("session", key))
        return None if text is None else decode_session(text)

    def save_session(self, key: str, state: dict, ttl_seconds: float) -> None:
        """Store a session's state with a Redis TTL of ttl_seconds."""
        self.write(Writes().with_session(key, state, ttl_seconds))

    def write(self, writes: Writes) -> None:
        """Apply every change in one MULTI/EXEC transaction (one round trip)."""
        if not writes:
            return
        with self._errors():
            pipeline = self._client.pipeline(transaction=True)
            if writes.session is not None:
                key, text, ttl = writes.session
                pipeline.set(self._key("session", key), text, px=_milliseconds(ttl))
            if writes.question is not None:
                pipeline.rpush(self._questions_key, *[record.to_json() for record in writes.questions])
                pipeline.ltrim(self._questions_key, -self._question_cap, -1)
            pipeline.execute()

    def deliver(self, key: str, reply: str, ttl_seconds: float, writes: Writes) -> str:
        """Keep the first live reply to a delivery and apply its writes, or return the earlier reply.

        One Lua script, so that the check and the writes are one atomic step across servers.
        """
        require_positive_seconds("ttl_seconds", ttl_seconds)
        keys = [self._key("reply", key), self._questions_key]
        arguments: list[str | int] = [reply, _milliseconds(ttl_seconds), self._question_cap]
        # JSON escapes line breaks, so one line per question.
        arguments.append("\n".join(record.to_json() for record in writes.questions))
        # The script takes a session and a claim as (key, value, ttl) slots; an empty key leaves one out.
        for kind, slot in (("session", writes.session), ("reply", writes.claim)):
            if slot is None:
                keys.append("")
                arguments += ["", 1]
            else:
                name, value, ttl = slot
                keys.append(self._key(kind, name))
                arguments += [value, _milliseconds(ttl)]
        with self._errors():
            earlier = self._deliver_script(keys=keys, args=arguments)
        if isinstance(earlier, list):
            raise ClaimTaken(writes.claim[0] if writes.claim else "")
        return reply if earlier is None else earlier

    def load_reply(self, key: str) -> str | None:
        """Return the stored reply to a delivery, or None."""
        with self._errors():
            return self._client.get(self._key("reply", key))

    def load_reply_and_session(self, reply_key: str, session_key: str) -> tuple[str | None, dict | None]:
        """The stored reply to a delivery and a session's state in one MGET (one round trip)."""
        with self._errors():
            reply, state = self._client.mget(
                [self._key("reply", reply_key), self._key("session", session_key)]
            )
        return reply, None if state is None else decode_session(state)

    def hit(self, key: str, window_seconds: float) -> int:
        """Count one event in key's window; MULTI makes INCR and the first PEXPIRE one step."""
        require_positive_seconds("window_seconds", window_seconds)
        name = self._key("hits", key)
        with self._errors():
            pipeline = self._client.pipeline(transaction=True)
            pipeline.incr(name)
            pipeline.pexpire(name, _milliseconds(window_seconds), nx=True)
            count, _ = pipeline.execute()
        return int(count)

    def hits(self, key: str) -> int:
        """Return the count of key's live window without counting."""
        with self._errors():
            count = self._client.get(self._key("hits", key))
        return 0 if count is None else int(count)

    def put_state(self, name: str, member: str, value: str, ttl_seconds: float) -> None:
        """Set one member of a shared table; each member carries its own expiry time in the hash."""
        require_positive_seconds("ttl_seconds", ttl_seconds)
        expires_at = self._clock() + ttl_seconds
        with self._errors():
            self._client.hset(self._key("state", name), member, json.dumps([expires_at, value]))

    def get_state(self, name: str) -> dict[str, str]:
        """Return the live members of a shared table, deleting the expired ones."""
        with self._errors():
            stored = self._client.hgetall(self._key("state", name))
            now = self._clock()
            live: dict[str, str] = {}
            expired: list[str] = []
            for member, text in stored.items():
                try:
                    expires_at, value = json.loads(text)
                except (ValueError, TypeError):
                    expired.append(member)
                    continue
                if expires_at > now:
                    live[member] = value
                else:
                    expired.append(member)
            if expired:
                self._client.hdel(self._key("state", name), *expired)
        return live

    def log_question(self, record: QuestionRecord) -> None:
        """Append a question to the log, keeping at most question_cap records."""
        self.write(Writes().with_question(record))

    def _question_pages(self) -> Iterator[list[str]]:
        """Read the question list page by page so a long log never needs one huge reply."""
        with self._errors():
            length = self._client.llen(self._questions_key)
            for start in range(0, length, _QUESTION_PAGE):
                yield self._client.lrange(self._questions_key, start, start + _QUESTION_PAGE - 1)

    def questions(self, since: float | None = None, outcome: str | None = None) -> list[QuestionRecord]:
        """Return logged questions filtered by since/outcome, oldest first."""
        records: list[QuestionRecord] = []
        try:
            for page in self._question_pages():
                records.extend(QuestionRecord.from_json(text) for text in page)
        except (ValueError, TypeError) as exc:
            raise StorageError(f"Redis question log holds a malformed record: {exc}") from exc
        return select_questions(records, since, outcome)

    def question_counts(self, since: float | None = None) -> QuestionCounts:
        """Counts of the logged questions with time >= since (the log is capped, so this read is bounded)."""
        return count_questions(self.questions(since=since))

    def cleanup(self) -> int:
        """Return 0: Redis deletes expired keys itself."""
        return 0

    def ping(self) -> bool:
        """Return True when Redis answers PING."""
        try:
            with self._errors():
                return bool(self._client.ping())
        except StorageError:
            return False

    @property
    def closed(self) -> bool:
        """True once close() was called: the app's corpus watcher then stops, as with SQLite."""
        return self._closed

    def close(self) -> None:
        """Disconnect every pooled connection."""
        self._closed = True
        with self._errors():
            self._client.close()
