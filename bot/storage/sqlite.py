"""SQLite storage: one file in WAL mode, shared by the worker processes of one machine."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from bot.storage.base import (
    CLEANUP_SECONDS,
    ClaimTaken,
    Clock,
    QuestionCounts,
    QuestionRecord,
    StorageError,
    Writes,
    decode_session,
    require_positive_seconds,
    utc_day,
)

log = logging.getLogger("faqbot.storage")

_SQLITE_BUSY_TIMEOUT_MS = 5000
_FALLBACK_CHECKPOINT_PAGES = 20_000
CHECKPOINT_SECONDS = 1.0
MAX_CONNECTIONS = 4
_POOL_WAIT_SECONDS = 10.0


# Every message writes a reply, a session and a question, so each costs pages in the write-ahead log: keyed
# tables without a separate rowid (one B-tree each, not two), and the question log without an index or an
# AUTOINCREMENT counter (its rowids grow with time anyway; reports scan it, which staff can wait for).
_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY, state TEXT NOT NULL, expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY, reply TEXT NOT NULL, expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (
    name TEXT NOT NULL, member TEXT NOT NULL, value TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (name, member)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    user TEXT NOT NULL,
    channel TEXT NOT NULL,
    text TEXT NOT NULL,
    lang TEXT NOT NULL,
    outcome TEXT NOT NULL,
    faq_id TEXT,
    best_id TEXT,
    score REAL NOT NULL
);
"""
_TURNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    reply_key TEXT, reply TEXT, reply_until REAL, now REAL,
    session_key TEXT, state TEXT, session_until REAL,
    time REAL, user TEXT, channel TEXT, text TEXT, lang TEXT, outcome TEXT, faq_id TEXT, best_id TEXT, score REAL,
    claim_key TEXT, claim_holder TEXT, claim_until REAL
);
CREATE TRIGGER IF NOT EXISTS file_turn BEFORE INSERT ON turns BEGIN
    SELECT RAISE(IGNORE) WHERE NEW.reply_key IS NOT NULL
        AND EXISTS (SELECT 1 FROM replies WHERE key = NEW.reply_key AND expires_at > NEW.now);
    SELECT RAISE(ABORT, 'claim taken') WHERE NEW.claim_key IS NOT NULL AND EXISTS (
        SELECT 1 FROM replies WHERE key = NEW.claim_key AND expires_at > NEW.now AND reply <> NEW.claim_holder);
    INSERT OR REPLACE INTO replies (key, reply, expires_at)
        SELECT NEW.claim_key, NEW.claim_holder, NEW.claim_until WHERE NEW.claim_key IS NOT NULL;
    INSERT OR REPLACE INTO replies (key, reply, expires_at)
        SELECT NEW.reply_key, NEW.reply, NEW.reply_until WHERE NEW.reply_key IS NOT NULL;
    INSERT OR REPLACE INTO sessions (key, state, expires_at)
        SELECT NEW.session_key, NEW.state, NEW.session_until WHERE NEW.session_key IS NOT NULL;
    INSERT INTO questions (time, user, channel, text, lang, outcome, faq_id, best_id, score)
        SELECT NEW.time, NEW.user, NEW.channel, NEW.text, NEW.lang, NEW.outcome, NEW.faq_id, NEW.best_id,
            NEW.score
        WHERE NEW.time IS NOT NULL;
    SELECT RAISE(IGNORE);
END;
"""
# One message's changes go in as one row of `turns`, which keeps nothing: its trigger files the reply, the
# claim, the session and the question away, drops them all when the delivery already has a live reply, and
# refuses them all (ABORT) when another holder has the claim. One statement
# is one transaction, and SQLite holds its write lock only while that statement runs, without the GIL; a
# transaction of several statements would hold it across Python code, while this thread waits for the GIL.
_FILE_TURN = (
    "INSERT INTO turns (reply_key, reply, reply_until, now, session_key, state, session_until,"
    " time, user, channel, text, lang, outcome, faq_id, best_id, score, claim_key, claim_holder, claim_until)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_CLAIM_TAKEN = "claim taken"
_NO_SESSION = (None, None, None)
_NO_CLAIM = (None, None, None)
_NO_QUESTION = (None,) * 9
# The further questions of a message that asks several things, logged in the same transaction as its turn.
_LOG_QUESTION = (
    "INSERT INTO questions (time, user, channel, text, lang, outcome, faq_id, best_id, score)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_REPLY_AND_SESSION = (
    "SELECT (SELECT reply FROM replies WHERE key = ?1 AND expires_at > ?3),"
    " (SELECT state FROM sessions WHERE key = ?2 AND expires_at > ?3)"
)

_EXPIRING_TABLES = ("sessions", "replies", "counters", "state")
# Rowids grow with time, so the questions past the retention are those below the first recent rowid: found by
# reading only the rows to delete, without an index on time that every insert would have to maintain.
_DELETE_OLD_QUESTIONS = """
DELETE FROM questions WHERE id < coalesce(
    (SELECT id FROM questions WHERE time >= :cutoff ORDER BY id LIMIT 1),
    (SELECT max(id) + 1 FROM questions), 0)
"""


_LIVE: weakref.WeakSet[SQLiteStorage] = weakref.WeakSet()


def _drop_turns_without_claims(connection: sqlite3.Connection) -> None:
    """A database made before turns had claim columns: make its turns table (always empty) and trigger anew.

    In one transaction, so that another process's write never finds the table missing.
    """
    columns = {row[1] for row in connection.execute("PRAGMA table_info(turns)")}
    if columns and "claim_key" not in columns:
        connection.executescript(f"BEGIN IMMEDIATE; DROP TABLE IF EXISTS turns; {_TURNS_SCHEMA} COMMIT;")


class _ForkGate:
    """Lets any number of threads work in SQLite at once, and a fork wait until none is inside.

    fork copies only the forking thread: if another thread were inside SQLite at that moment, the child would
    start with SQLite's (or a pool's) lock held for ever, and its first question would hang.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._active = 0
        self._forking = False

    @contextmanager
    def working(self) -> Iterator[None]:
        self.enter()
        try:
            yield
        finally:
            self.leave()

    def enter(self) -> None:
        """This thread starts working in SQLite (waiting while a fork is under way)."""
        with self._condition:
            if self._forking:
                self._condition.wait_for(lambda: not self._forking)
            self._active += 1

    def leave(self) -> None:
        """This thread is out of SQLite; a fork waiting for that is woken."""
        with self._condition:
            self._active -= 1
            if self._forking:
                self._condition.notify_all()

    def before_fork(self) -> None:
        self._condition.acquire()
        self._forking = True
        self._condition.wait_for(lambda: self._active == 0)

    def after_fork_in_parent(self) -> None:
        self._forking = False
        self._condition.notify_all()
        self._condition.release()


_FORK_GATE = _ForkGate()


def _reset_after_fork() -> None:
    """In a forked child: a fresh gate, and every storage with fresh locks and an empty pool."""
    global _FORK_GATE
    _FORK_GATE = _ForkGate()
    for storage in list(_LIVE):
        storage._pool_lock = threading.Condition()
        storage._write_lock = threading.Lock()
        storage._forget_parent_pool()


def inside_sqlite() -> AbstractContextManager[None]:
    """Hold forks off while this thread works in SQLite: for other SQLite files of the app (the console's)."""
    return _FORK_GATE.working()


os.register_at_fork(
    before=lambda: _FORK_GATE.before_fork(),
    after_in_parent=lambda: _FORK_GATE.after_fork_in_parent(),
    after_in_child=_reset_after_fork,
)


class _Lent:
    """A pooled connection lent for one statement, with this process's write lock for a write.

    What SQLiteStorage._errors and _connection (and _locked) do, in one object rather than three stacked
    generator context managers: a WeChat message passes through here twice, and the generators cost about as
    much as the point read itself. SQLite and file-system failures come out as StorageError.
    """

    __slots__ = ("_connection", "_gate", "_lock", "_storage")

    def __init__(self, storage: SQLiteStorage, write: bool) -> None:
        self._storage = storage
        self._lock = storage._write_lock if write else None
        self._gate = _FORK_GATE
        self._connection: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        storage = self._storage
        if self._lock is not None:
            storage._ensure_upkeep()
            self._lock.acquire()
        try:
            self._gate.enter()
            try:
                self._connection = storage._borrow()
            except BaseException:
                self._gate.leave()
                raise
        except BaseException as exc:
            if self._lock is not None:
                self._lock.release()
            if isinstance(exc, sqlite3.Error | OSError):
                raise StorageError(f"SQLite storage {storage.path.name} failed: {exc}") from exc
            raise
        return self._connection

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        storage = self._storage
        broken = isinstance(error, sqlite3.Error) and not isinstance(
            error, sqlite3.OperationalError | sqlite3.IntegrityError
        )
        try:
            storage._give_back(self._connection, broken)  # type: ignore[arg-type]
        finally:
            self._gate.leave()
            if self._lock is not None:
                self._lock.release()
        if isinstance(error, sqlite3.Error | OSError):
            raise StorageError(f"SQLite storage {storage.path.name} failed: {error}") from error


class SQLiteStorage:
    """State in one SQLite file (WAL): safe for several worker processes on one machine."""

    kind = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        clock: Clock = time.time,
        max_connections: int = MAX_CONNECTIONS,
        question_log_seconds: float | None = None,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._question_log_seconds = question_log_seconds
        self.max_connections = max(1, max_connections)
        # Connections are lent out from a small pool rather than kept per thread: a server that starts a
        # thread per request (python server.py) would otherwise keep two descriptors per request forever.
        self._pool_lock = threading.Condition()
        self._idle: list[sqlite3.Connection] = []
        self._open = 0
        self._pool_pid = os.getpid()
        self._inherited: list[sqlite3.Connection] = []
        # The threads of a process take turns on a lock rather than in SQLite's busy handler, which sleeps a
        # millisecond or more at each try; processes meet in the busy handler, rarely, as every write is one
        # short statement.
        self._write_lock = threading.Lock()
        self._closed = False
        self._upkeep: tuple[int, threading.Event] | None = None  # (pid, stop) of this process's upkeep thread
        _LIVE.add(self)
        with self._errors():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connection() as connection:
                connection.execute("PRAGMA journal_mode=WAL")
                with self._write_lock:
                    _drop_turns_without_claims(connection)
                    connection.executescript(_SQLITE_SCHEMA + _TURNS_SCHEMA)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Report every SQLite or file-system failure as StorageError."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"SQLite storage {self.path.name} failed: {exc}") from exc

    def _open_connection(self) -> sqlite3.Connection:
        """A new connection with the settings every request relies on."""
        connection = sqlite3.connect(
            self.path, timeout=_SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
            # In WAL mode NORMAL survives a killed process (only power loss can drop the last commits), and
            # saves an fsync on every question.
            connection.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints (copying the log into the database, with two fsyncs) are the upkeep thread's job, not
            # a request's; the high limit only bounds the log should that thread fall behind.
            connection.execute(f"PRAGMA wal_autocheckpoint={_FALLBACK_CHECKPOINT_PAGES}")
        except sqlite3.Error:
            connection.close()
            raise
        return connection

    def _forget_parent_pool(self) -> None:
        """After fork, set the parent's connections aside (caller holds the pool lock).

        A connection inherited through fork must never be used or closed by the child: closing it could
        release the parent's file locks. They stay referenced instead (a few, once per worker).
        """
        pid = os.getpid()
        if self._pool_pid != pid:
            self._inherited.extend(self._idle)
            self._idle = []
            self._open = 0
            self._pool_pid = pid

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """Lend a pooled connection for one operation; at most max_connections are open per process."""
        with _FORK_GATE.working():
            connection = self._borrow()
            broken = False
            try:
                yield connection
            except sqlite3.Error as exc:
                broken = not isinstance(exc, sqlite3.OperationalError | sqlite3.IntegrityError)
                raise
            finally:
                self._give_back(connection, broken)

    def _borrow(self) -> sqlite3.Connection:
        with self._pool_lock:
            if self._closed:
                raise StorageError(f"SQLite storage {self.path.name} is closed")
            self._forget_parent_pool()
            if self._idle:
                return self._idle.pop()
            if self._open >= self.max_connections and not self._pool_lock.wait_for(
                lambda: self._idle or self._open < self.max_connections, timeout=_POOL_WAIT_SECONDS
            ):
                raise StorageError(f"no free SQLite connection within {_POOL_WAIT_SECONDS} s")
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            return self._open_connection()
        except BaseException:
            with self._pool_lock:
                self._open -= 1
                self._pool_lock.notify()
            raise

    def _give_back(self, connection: sqlite3.Connection, broken: bool) -> None:
        with self._pool_lock:
            if self._pool_pid != os.getpid():
                self._inherited.append(connection)
                return
            if broken or self._closed:
                self._open -= 1
                connection.close()
            else:
                self._idle.append(connection)
            self._pool_lock.notify()

    @property
    def closed(self) -> bool:
        """Whether close() was called."""
        return self._closed

    @property
    def open_connections(self) -> int:
        """How many connections this process holds open (for tests and /healthz)."""
        with self._pool_lock:
            return self._open if self._pool_pid == os.getpid() else 0

    def _ensure_upkeep(self) -> None:
        """Start this process's upkeep thread on its first write (a forked child starts its own)."""
        pid = os.getpid()
        if self._upkeep is not None and self._upkeep[0] == pid:
            return
        stop = threading.Event()
        self._upkeep = (pid, stop)
        threading.Thread(target=self._keep_up, args=(stop,), name="sqlite-upkeep", daemon=True).start()

    def _keep_up(self, stop: threading.Event) -> None:
        """Checkpoint the write-ahead log every second and delete expired state every minute."""
        # Opening and closing are inside SQLite too (its allocator's lock): a fork must not land in them either.
        with _FORK_GATE.working():
            connection = sqlite3.connect(
                self.path, timeout=_SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None
            )
        last_cleanup = time.monotonic()
        try:
            while not stop.wait(CHECKPOINT_SECONDS):
                try:
                    with _FORK_GATE.working():
                        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                        if time.monotonic() - last_cleanup >= CLEANUP_SECONDS:
                            last_cleanup = time.monotonic()
                            self.cleanup()
                except (sqlite3.Error, StorageError) as exc:
                    log.warning("SQLite upkeep of %s failed, will retry: %s", self.path, exc)
        finally:
            with _FORK_GATE.working():
                connection.close()

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """Hold this process's write lock around a write."""
        self._ensure_upkeep()
        with self._write_lock, self._connection() as connection:
            yield connection

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """Run statements in one immediate transaction, so read-then-write steps are atomic."""
        with self._locked() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            finally:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")

    def _read_live(self, sql: str, key: str) -> tuple | None:
        """Return the first row for key whose expires_at is still in the future."""
        with _Lent(self, write=False) as connection:
            return connection.execute(sql, (key, self._clock())).fetchone()

    def load_session(self, key: str) -> dict | None:
        """Return the live conversation state of a session, or None if absent or expired."""
        row = self._read_live("SELECT state FROM sessions WHERE key = ? AND expires_at > ?", key)
        return None if row is None else decode_session(row[0])

    def save_session(self, key: str, state: dict, ttl_seconds: float) -> None:
        """Store a session's state for ttl_seconds, replacing any previous state."""
        self.write(Writes().with_session(key, state, ttl_seconds))

    def write(self, writes: Writes) -> None:
        """Apply every change in one statement (one transaction)."""
        if writes:
            with _Lent(self, write=True) as connection:
                self._file(connection, writes, None)

    def deliver(self, key: str, reply: str, ttl_seconds: float, writes: Writes) -> str:
        """Keep the first live reply to a delivery and apply its writes, or return the earlier reply."""
        require_positive_seconds("ttl_seconds", ttl_seconds)
        with _Lent(self, write=True) as connection:
            if self._file(connection, writes, (key, reply, ttl_seconds)):
                return reply
            row = connection.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return reply if row is None else row[0]

    def _file(
        self, connection: sqlite3.Connection, writes: Writes, reply: tuple[str, str, float] | None
    ) -> bool:
        """Insert one turn (see _FILE_TURN); False when its delivery already had a live reply."""
        now = self._clock()
        delivery = (reply[0], reply[1], now + reply[2], now) if reply else (None, None, None, now)
        session = _NO_SESSION
        if writes.session is not None:
            key, state, ttl = writes.session
            session = (key, state, now + ttl)
        question = writes.question.as_row() if writes.question is not None else _NO_QUESTION
        claim = _NO_CLAIM
        if writes.claim is not None:
            key, holder, ttl = writes.claim
            claim = (key, holder, now + ttl)
        turn = delivery + session + question + claim
        try:
            if writes.more_questions:
                return self._file_several(connection, turn, writes.more_questions)
            before = connection.total_changes
            connection.execute(_FILE_TURN, turn)
            return connection.total_changes != before
        except sqlite3.IntegrityError as exc:
            if str(exc) == _CLAIM_TAKEN and writes.claim is not None:
                raise ClaimTaken(writes.claim[0]) from None
            raise

    def _file_several(self, connection: sqlite3.Connection, turn: tuple, more: list[QuestionRecord]) -> bool:
        """A turn whose message asked several things: its further questions go in with it, or not at all."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            before = connection.total_changes
            connection.execute(_FILE_TURN, turn)
            filed = connection.total_changes != before
            if filed:
                connection.executemany(_LOG_QUESTION, [record.as_row() for record in more])
            connection.execute("COMMIT")
        finally:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
        return filed

    def load_reply(self, key: str) -> str | None:
        """Return the stored reply to a delivery, or None."""
        row = self._read_live("SELECT reply FROM replies WHERE key = ? AND expires_at > ?", key)
        return None if row is None else row[0]

    def load_reply_and_session(self, reply_key: str, session_key: str) -> tuple[str | None, dict | None]:
        """The stored reply to a delivery and a session's live state in one statement (one read transaction)."""
        with self._errors(), self._connection() as connection:
            reply, state = connection.execute(
                _REPLY_AND_SESSION, (reply_key, session_key, self._clock())
            ).fetchone()
        return reply, None if state is None else decode_session(state)

    def hit(self, key: str, window_seconds: float) -> int:
        """Count one event in key's current window and return the count."""
        require_positive_seconds("window_seconds", window_seconds)
        with _Lent(self, write=True) as connection:
            now = self._clock()
            (count,) = connection.execute(
                """
                INSERT INTO counters (key, count, expires_at) VALUES (:key, 1, :window_end)
                ON CONFLICT (key) DO UPDATE SET
                    count = CASE WHEN expires_at <= :now THEN 1 ELSE count + 1 END,
                    expires_at = CASE WHEN expires_at <= :now THEN :window_end ELSE expires_at END
                RETURNING count
                """,
                {"key": key, "now": now, "window_end": now + window_seconds},
            ).fetchone()
            return int(count)

    def log_question(self, record: QuestionRecord) -> None:
        """Append a question to the durable log."""
        self.write(Writes().with_question(record))

    def questions(self, since: float | None = None, outcome: str | None = None) -> list[QuestionRecord]:
        """Return logged questions filtered by since/outcome, oldest first."""
        conditions: list[str] = []
        parameters: list[object] = []
        if since is not None:
            conditions.append("time >= ?")
            parameters.append(since)
        if outcome is not None:
            conditions.append("outcome = ?")
            parameters.append(outcome)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = (
            "SELECT time, user, channel, text, lang, outcome, faq_id, best_id, score FROM questions"
            f"{where} ORDER BY time, id"
        )
        with self._errors(), self._connection() as connection:
            rows = connection.execute(sql, parameters).fetchall()
        return [QuestionRecord(*row) for row in rows]

    def hits(self, key: str) -> int:
        """Return the count of key's live window without counting."""
        row = self._read_live("SELECT count FROM counters WHERE key = ? AND expires_at > ?", key)
        return 0 if row is None else int(row[0])

    def put_state(self, name: str, member: str, value: str, ttl_seconds: float) -> None:
        """Set one member of a shared table for ttl_seconds."""
        require_positive_seconds("ttl_seconds", ttl_seconds)
        with self._errors(), self._locked() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO state (name, member, value, expires_at) VALUES (?, ?, ?, ?)",
                (name, member, value, self._clock() + ttl_seconds),
            )

    def get_state(self, name: str) -> dict[str, str]:
        """Return the live members of a shared table."""
        with self._errors(), self._connection() as connection:
            rows = connection.execute(
                "SELECT member, value FROM state WHERE name = ? AND expires_at > ?", (name, self._clock())
            ).fetchall()
        return dict(rows)

    def question_counts(self, since: float | None = None) -> QuestionCounts:
        """Counts grouped inside SQLite, from the first question at or after since.

        Rowids grow with time, so that first question is found by bisecting the rowids (a few dozen lookups)
        instead of reading every earlier row; the counts then read only the rows they count, in SQLite.
        """
        with self._errors(), self._connection() as connection:
            first = 0 if since is None else self._first_id_since(connection, since)
            # One pass over the rows: a few hundred combinations come back, which Python folds per column.
            rows = connection.execute(
                "SELECT outcome, faq_id, lang, channel, CAST(time / 86400 AS INTEGER), count(*) FROM questions"
                " WHERE id >= ? GROUP BY 1, 2, 3, 4, 5",
                (first,),
            ).fetchall()
        counts = QuestionCounts()
        for outcome, entry, lang, channel, day, count in rows:
            counts.total += count
            for table, key in (
                (counts.outcomes, outcome),
                (counts.per_day, utc_day(day * 86400)),
                (counts.per_entry, entry),
                (counts.per_language, lang),
                (counts.per_channel, channel),
            ):
                if key:
                    table[key] = table.get(key, 0) + count
        return counts

    @staticmethod
    def _first_id_since(connection: sqlite3.Connection, since: float) -> int:
        """The smallest rowid whose question was asked at or after since (bisecting on rowids)."""
        low, high = connection.execute(
            "SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM questions"
        ).fetchone()
        high += 1
        while low < high:
            middle = (low + high) // 2
            row = connection.execute(
                "SELECT id, time FROM questions WHERE id >= ? ORDER BY id LIMIT 1", (middle,)
            ).fetchone()
            if row is None or row[1] >= since:
                high = middle
            else:
                low = row[0] + 1
        return low

    def cleanup(self) -> int:
        """Delete expired state and questions past the retention; return how many."""
        removed = 0
        with self._errors(), self._write() as conn:
            now = self._clock()
            for table in _EXPIRING_TABLES:
                removed += conn.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,)).rowcount
            if self._question_log_seconds is not None:
                cutoff = now - self._question_log_seconds
                removed += conn.execute(_DELETE_OLD_QUESTIONS, {"cutoff": cutoff}).rowcount
        return removed

    def ping(self) -> bool:
        """Return True when the database file answers a query."""
        try:
            with self._errors(), self._connection() as connection:
                connection.execute("SELECT 1").fetchone()
        except StorageError:
            return False
        return True

    def close(self) -> None:
        """Stop the upkeep thread and close every connection this process opened."""
        pid = os.getpid()
        if self._upkeep is not None and self._upkeep[0] == pid:
            self._upkeep[1].set()
        with self._pool_lock:
            self._closed = True
            self._forget_parent_pool()
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._pool_lock.notify_all()
        with _FORK_GATE.working():
            for connection in idle:
                connection.close()
