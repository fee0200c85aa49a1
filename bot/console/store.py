"""What the console keeps: accounts, sign-in sessions, the draft, published versions, audit log, inbox marks.

Two backends with one small vocabulary (keys with an optional lifetime, counters, append-only lists), chosen
from the configured storage URL: SQLite (also for memory://) on one machine, Redis when several servers share
one store. The console's own logic lives in ConsoleStore on top, so both backends behave the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from bot.storage.sqlite import inside_sqlite

Clock = Callable[[], float]
SESSION_SECONDS = 8 * 3600
LOCKOUT_FAILURES = 5
LOCKOUT_SECONDS = 15 * 60
PUBLISH_LOCK_SECONDS = 10 * 60  # longer than any gate run; a publisher that died frees the lock by then


class ConsoleStoreError(Exception):
    """The console's store is unreachable or failed."""


class Backend(Protocol):
    """Keys, counters and append-only lists, shared by every worker that opens the same store.

    `put_new` sets a key only when it is absent (a lock); `swap` replaces a value only while it is still the
    expected one (None: absent; a new value of None deletes), so two workers never overwrite each other.
    """

    def get(self, key: str) -> Any | None: ...
    def put(self, key: str, value: Any, ttl: float | None = None) -> None: ...
    def delete(self, key: str) -> None: ...
    def items(self, prefix: str) -> dict[str, Any]: ...
    def incr(self, key: str, ttl: float) -> int: ...
    def put_new(self, key: str, value: Any, ttl: float) -> bool: ...
    def swap(self, key: str, expected: Any | None, value: Any | None) -> bool: ...
    def append(self, name: str, value: Any) -> int: ...
    def item(self, name: str, number: int) -> Any | None: ...
    def newest(self, name: str, limit: int) -> list[tuple[int, Any]]: ...
    def length(self, name: str) -> int: ...


class SQLiteBackend:
    """One SQLite file (or memory), opened lazily per process so a forked worker never shares a handle.

    Every use goes through the storage's fork gate, so a fork never copies a thread inside SQLite.
    """

    def __init__(self, path: str, clock: Clock = time.time) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    def _db(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(
                "CREATE TABLE IF NOT EXISTS console_kv (key TEXT PRIMARY KEY, value TEXT, expires REAL);"
                "CREATE TABLE IF NOT EXISTS console_list (name TEXT, seq INTEGER, value TEXT,"
                " PRIMARY KEY (name, seq));"
            )
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        with inside_sqlite(), self._lock:
            try:
                return self._db().execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise ConsoleStoreError(str(exc)) from exc

    def get(self, key: str) -> Any | None:
        rows = self._run("SELECT value, expires FROM console_kv WHERE key = ?", (key,))
        if not rows or (rows[0][1] is not None and rows[0][1] <= self.clock()):
            return None
        return json.loads(rows[0][0])

    def put(self, key: str, value: Any, ttl: float | None = None) -> None:
        expires = self.clock() + ttl if ttl else None
        self._run(
            "INSERT OR REPLACE INTO console_kv VALUES (?, ?, ?)",
            (key, json.dumps(value, ensure_ascii=False), expires),
        )

    def delete(self, key: str) -> None:
        self._run("DELETE FROM console_kv WHERE key = ?", (key,))

    def items(self, prefix: str) -> dict[str, Any]:
        rows = self._run(
            "SELECT key, value FROM console_kv WHERE substr(key, 1, ?) = ? AND (expires IS NULL OR expires > ?)",
            (len(prefix), prefix, self.clock()),
        )
        return {key[len(prefix) :]: json.loads(value) for key, value in rows}

    def incr(self, key: str, ttl: float) -> int:
        with inside_sqlite(), self._lock:
            db = self._db()
            try:
                db.execute("BEGIN IMMEDIATE")
                row = db.execute("SELECT value, expires FROM console_kv WHERE key = ?", (key,)).fetchone()
                now = self.clock()
                live = row is not None and (row[1] is None or row[1] > now)
                count = (json.loads(row[0]) if live else 0) + 1
                expires = row[1] if live else now + ttl
                db.execute("INSERT OR REPLACE INTO console_kv VALUES (?, ?, ?)", (key, str(count), expires))
                db.execute("COMMIT")
                return count
            except sqlite3.Error as exc:
                db.execute("ROLLBACK") if db.in_transaction else None
                raise ConsoleStoreError(str(exc)) from exc

    def _current(self, db: sqlite3.Connection, key: str) -> Any | None:
        row = db.execute("SELECT value, expires FROM console_kv WHERE key = ?", (key,)).fetchone()
        if row is None or (row[1] is not None and row[1] <= self.clock()):
            return None
        return json.loads(row[0])

    def _atomic(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run `work` in one write transaction: no other worker reads or writes in between."""
        with inside_sqlite(), self._lock:
            db = self._db()
            try:
                db.execute("BEGIN IMMEDIATE")
                result = work(db)
                db.execute("COMMIT")
                return result
            except sqlite3.Error as exc:
                db.execute("ROLLBACK") if db.in_transaction else None
                raise ConsoleStoreError(str(exc)) from exc

    def put_new(self, key: str, value: Any, ttl: float) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            if self._current(db, key) is not None:
                return False
            text = json.dumps(value, ensure_ascii=False)
            db.execute("INSERT OR REPLACE INTO console_kv VALUES (?, ?, ?)", (key, text, self.clock() + ttl))
            return True

        return self._atomic(work)

    def swap(self, key: str, expected: Any | None, value: Any | None) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            if self._current(db, key) != expected:
                return False
            if value is None:
                db.execute("DELETE FROM console_kv WHERE key = ?", (key,))
            else:
                text = json.dumps(value, ensure_ascii=False)
                db.execute("INSERT OR REPLACE INTO console_kv VALUES (?, ?, NULL)", (key, text))
            return True

        return self._atomic(work)

    def append(self, name: str, value: Any) -> int:
        with inside_sqlite(), self._lock:
            db = self._db()
            try:
                db.execute("BEGIN IMMEDIATE")
                (last,) = db.execute(
                    "SELECT COALESCE(MAX(seq), 0) FROM console_list WHERE name = ?", (name,)
                ).fetchone()
                db.execute(
                    "INSERT INTO console_list VALUES (?, ?, ?)",
                    (name, last + 1, json.dumps(value, ensure_ascii=False)),
                )
                db.execute("COMMIT")
                return int(last) + 1
            except sqlite3.Error as exc:
                db.execute("ROLLBACK") if db.in_transaction else None
                raise ConsoleStoreError(str(exc)) from exc

    def item(self, name: str, number: int) -> Any | None:
        rows = self._run("SELECT value FROM console_list WHERE name = ? AND seq = ?", (name, number))
        return json.loads(rows[0][0]) if rows else None

    def newest(self, name: str, limit: int) -> list[tuple[int, Any]]:
        rows = self._run(
            "SELECT seq, value FROM console_list WHERE name = ? ORDER BY seq DESC LIMIT ?", (name, limit)
        )
        return [(seq, json.loads(value)) for seq, value in rows]

    def length(self, name: str) -> int:
        rows = self._run("SELECT COALESCE(MAX(seq), 0) FROM console_list WHERE name = ?", (name,))
        return int(rows[0][0])


class RedisBackend:
    """The same vocabulary on Redis, under `console:` keys, for several servers behind a load balancer."""

    PREFIX = "console:"

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=5, decode_responses=True)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._redis, method)(*args)
        except self._errors as exc:
            raise ConsoleStoreError(str(exc)) from exc

    def get(self, key: str) -> Any | None:
        value = self._call("get", self.PREFIX + key)
        return None if value is None else json.loads(value)

    def put(self, key: str, value: Any, ttl: float | None = None) -> None:
        text = json.dumps(value, ensure_ascii=False)
        try:
            self._redis.set(self.PREFIX + key, text, px=int(ttl * 1000) if ttl else None)
        except self._errors as exc:
            raise ConsoleStoreError(str(exc)) from exc

    def delete(self, key: str) -> None:
        self._call("delete", self.PREFIX + key)

    def items(self, prefix: str) -> dict[str, Any]:
        start = len(self.PREFIX + prefix)
        try:
            keys = list(self._redis.scan_iter(match=self.PREFIX + prefix + "*", count=500))
            values = self._redis.mget(keys) if keys else []
        except self._errors as exc:
            raise ConsoleStoreError(str(exc)) from exc
        return {k[start:]: json.loads(v) for k, v in zip(keys, values, strict=True) if v is not None}

    def incr(self, key: str, ttl: float) -> int:
        try:
            pipe = self._redis.pipeline()
            pipe.incr(self.PREFIX + key)
            pipe.expire(self.PREFIX + key, int(ttl), nx=True)
            count, _ = pipe.execute()
        except self._errors as exc:
            raise ConsoleStoreError(str(exc)) from exc
        return int(count)

    def put_new(self, key: str, value: Any, ttl: float) -> bool:
        text = json.dumps(value, ensure_ascii=False)
        try:
            return bool(self._redis.set(self.PREFIX + key, text, px=int(ttl * 1000), nx=True))
        except self._errors as exc:
            raise ConsoleStoreError(str(exc)) from exc

    def swap(self, key: str, expected: Any | None, value: Any | None) -> bool:
        import redis

        name = self.PREFIX + key
        try:
            with self._redis.pipeline() as pipe:
                pipe.watch(name)  # the transaction below fails if another client writes the key meanwhile
                current = pipe.get(name)
                if (None if current is None else json.loads(current)) != expected:
                    pipe.unwatch()
                    return False
                pipe.multi()
                if value is None:
                    pipe.delete(name)
                else:
                    pipe.set(name, json.dumps(value, ensure_ascii=False))
                pipe.execute()
                return True
        except redis.WatchError:
            return False
        except self._errors as exc:
            raise ConsoleStoreError(str(exc)) from exc

    def append(self, name: str, value: Any) -> int:
        return int(self._call("rpush", self.PREFIX + "list:" + name, json.dumps(value, ensure_ascii=False)))

    def item(self, name: str, number: int) -> Any | None:
        if number < 1:
            return None
        value = self._call("lindex", self.PREFIX + "list:" + name, number - 1)
        return None if value is None else json.loads(value)

    def newest(self, name: str, limit: int) -> list[tuple[int, Any]]:
        total = self.length(name)
        values = self._call("lrange", self.PREFIX + "list:" + name, max(0, total - limit), total - 1)
        numbered = [(max(0, total - limit) + i + 1, json.loads(v)) for i, v in enumerate(values)]
        return list(reversed(numbered))

    def length(self, name: str) -> int:
        return int(self._call("llen", self.PREFIX + "list:" + name))


def open_backend(url: str, clock: Clock = time.time) -> Backend:
    """The backend for the configured storage URL: the same SQLite file, the same Redis, or memory."""
    if url.startswith("redis://") or url.startswith("rediss://"):
        return RedisBackend(url)
    if url.startswith("sqlite:///"):
        return SQLiteBackend("/" + url[len("sqlite:///") :].lstrip("/"), clock)
    if url.startswith("sqlite://"):
        return SQLiteBackend(url[len("sqlite://") :], clock)
    return SQLiteBackend(":memory:", clock)


class ConsoleStore:
    """The console's records, the same on every backend."""

    def __init__(self, backend: Backend, clock: Clock = time.time) -> None:
        self.backend = backend
        self.clock = clock

    # accounts and sign-in
    def account(self, name: str) -> dict | None:
        return self.backend.get("account:" + name)

    def save_account(self, name: str, password_hash: str, role: str) -> None:
        self.backend.put("account:" + name, {"name": name, "hash": password_hash, "role": role})

    def accounts(self) -> dict[str, dict]:
        return self.backend.items("account:")

    def locked(self, name: str) -> bool:
        return int(self.backend.get("failures:" + name) or 0) >= LOCKOUT_FAILURES

    def failed_sign_in(self, name: str) -> int:
        return self.backend.incr("failures:" + name, LOCKOUT_SECONDS)

    def clear_failures(self, name: str) -> None:
        self.backend.delete("failures:" + name)

    def open_session(self, token: str, name: str, csrf: str) -> None:
        self.backend.put("session:" + token, {"name": name, "csrf": csrf}, SESSION_SECONDS)

    def session(self, token: str) -> dict | None:
        return self.backend.get("session:" + token) if token else None

    def close_session(self, token: str) -> None:
        self.backend.delete("session:" + token)

    # the draft: the whole corpus folder's texts with the staff's unpublished edits, numbered by revision
    def draft(self) -> dict | None:
        return self.backend.get("draft")

    def save_draft(self, draft: dict, revision: int) -> bool:
        """Store the draft as revision + 1 if the stored one is still `revision` (0: none); False if not."""
        current = self.backend.get("draft")
        if draft_revision(current) != revision:
            return False
        return self.backend.swap("draft", current, {**draft, "revision": revision + 1})

    def drop_draft(self, revision: int | None = None) -> bool:
        """Remove the draft; with `revision`, only while it is still that one (a later save is kept)."""
        if revision is None:
            self.backend.delete("draft")
            return True
        current = self.backend.get("draft")
        return draft_revision(current) == revision and self.backend.swap("draft", current, None)

    # one publish at a time, across every worker and server that shares the store
    def take_publish_lock(self, user: str) -> str | None:
        """A token when this caller may publish now; None while someone else's publish is under way."""
        token = secrets.token_hex(12)
        holder = {"user": user, "time": self.clock(), "token": token}
        return token if self.backend.put_new("lock:publish", holder, PUBLISH_LOCK_SECONDS) else None

    def publish_lock(self) -> dict | None:
        """Who is publishing and since when, or None."""
        return self.backend.get("lock:publish")

    def release_publish_lock(self, token: str) -> None:
        holder = self.backend.get("lock:publish")
        if holder and holder.get("token") == token:
            self.backend.swap("lock:publish", holder, None)

    # published versions: metadata in a list, file contents by their hash
    def publish(self, files: dict[str, str], user: str, note: str, kind: str = "publish") -> int:
        digest = files_digest(files)
        self.backend.put("files:" + digest, files)
        return self.backend.append(
            "versions", {"time": self.clock(), "user": user, "note": note, "digest": digest, "kind": kind}
        )

    def version(self, number: int) -> dict | None:
        meta = self.backend.item("versions", number)
        return None if meta is None else {"number": number, **meta}

    def version_files(self, number: int) -> dict[str, str] | None:
        meta = self.backend.item("versions", number)
        return None if meta is None else self.backend.get("files:" + meta["digest"])

    def versions(self, limit: int = 100) -> list[dict]:
        return [{"number": n, **meta} for n, meta in self.backend.newest("versions", limit)]

    def latest_version(self) -> int:
        return self.backend.length("versions")

    def save_published_failures(self, set_name: str, failures: list[dict]) -> None:
        self.backend.put("eval:" + set_name, failures)

    def published_failures(self, set_name: str) -> list[dict] | None:
        return self.backend.get("eval:" + set_name)

    # audit log
    def audit(self, user: str, action: str, detail: str = "") -> None:
        self.backend.append("audit", {"time": self.clock(), "user": user, "action": action, "detail": detail})

    def audit_log(self, limit: int = 200) -> list[dict]:
        return [{"number": n, **row} for n, row in self.backend.newest("audit", limit)]

    # inbox marks
    def mark(self, group_key: str, action: str, user: str) -> None:
        self.backend.put("mark:" + group_key, {"action": action, "user": user, "time": self.clock()})

    def marks(self) -> dict[str, dict]:
        return self.backend.items("mark:")


def draft_revision(draft: dict | None) -> int:
    """A stored draft's revision: 0 for none (drafts saved before revisions were kept count as 1)."""
    return 0 if draft is None else int(draft.get("revision", 1))


def files_digest(files: dict[str, str]) -> str:
    """A fingerprint of a set of corpus file texts."""
    blob = json.dumps(sorted(files.items()), ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def open_console_store(url: str, clock: Clock = time.time) -> ConsoleStore:
    """The console store on the configured storage."""
    return ConsoleStore(open_backend(url, clock), clock)
