"""Contract tests for every storage backend (memory, SQLite, real Redis), plus backend specifics."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from redis_server import (  # noqa: F401 (the fixtures register by being imported)
    RedisServer,
    own_redis_server_fixture,
    redis_server_fixture,
)

from bot.storage import (
    ClaimTaken,
    MemoryStorage,
    QuestionRecord,
    SQLiteStorage,
    Storage,
    StorageError,
    Writes,
    open_storage,
)
from bot.storage import sqlite as storage_module
from bot.storage.redis import RedisStorage

SHORT_TTL = 0.2
PAST_SHORT_TTL = 0.3
LONG_TTL = 60.0
HANG_GUARD_SECONDS = 10.0
RECONNECT_WAIT_SECONDS = 10.0
CHILD_WAIT_SECONDS = 60.0


class FakeClock:
    """A clock that moves only when a test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Backend:
    """A storage under test and the way to let time pass for its TTLs."""

    storage: Storage
    clock: FakeClock
    real_ttl: bool

    def pass_time(self, seconds: float) -> None:
        """Move the fake clock, or really wait when the backend keeps its own TTL clock (Redis)."""
        if self.real_ttl:
            time.sleep(seconds)
        else:
            self.clock.advance(seconds)


def _flush(url: str) -> None:
    """Empty the Redis database so every test starts clean."""
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def _open_backend(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Open one backend of the given kind for a test and close it afterwards."""
    clock = FakeClock()
    storage: Storage
    if kind == "memory":
        storage = MemoryStorage(clock=clock)
    elif kind == "sqlite":
        storage = SQLiteStorage(tmp_path / "faqbot.db", clock=clock)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        _flush(server.url)
        storage = RedisStorage(server.url, clock=clock)
    try:
        yield Backend(storage=storage, clock=clock, real_ttl=kind == "redis")
    finally:
        storage.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Every backend."""
    yield from _open_backend(request.param, request, tmp_path)


@pytest.fixture(params=["memory", "sqlite"])
def clocked_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The backends whose TTLs follow the injected clock exactly."""
    yield from _open_backend(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "redis"])
def shared_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The backends that several processes share."""
    yield from _open_backend(request.param, request, tmp_path)


def make_record(
    at: float,
    outcome: str = "answered",
    text: str = "学费是多少？",
    faq_id: str | None = "tuition-fee",
) -> QuestionRecord:
    """A question record with sensible defaults."""
    return QuestionRecord(
        time=at,
        user="9f86d081884c7d65",
        channel="wechat",
        text=text,
        lang="zh",
        outcome=outcome,
        faq_id=faq_id if outcome == "answered" else None,
        best_id=faq_id,
        score=0.8125,
    )


# --- the contract -------------------------------------------------------------------------------


def test_kind_names_the_backend(backend: Backend) -> None:
    assert backend.storage.kind in {"memory", "sqlite", "redis"}
    assert isinstance(backend.storage, Storage)


def test_session_round_trip_keeps_chinese_keys_and_values(backend: Backend) -> None:
    state = {"上一个问题": "学费多少？", "lang": "zh", "turns": [1, 2], "地点": {"省份": "重庆"}}
    backend.storage.save_session("会话:用户甲", state, LONG_TTL)
    assert backend.storage.load_session("会话:用户甲") == state


def test_unknown_session_is_none(backend: Backend) -> None:
    assert backend.storage.load_session("nobody") is None


def test_saving_a_session_replaces_its_state(backend: Backend) -> None:
    backend.storage.save_session("s", {"step": 1}, LONG_TTL)
    backend.storage.save_session("s", {"step": 2}, LONG_TTL)
    assert backend.storage.load_session("s") == {"step": 2}


def test_session_expires_after_its_ttl(backend: Backend) -> None:
    backend.storage.save_session("s", {"step": 1}, SHORT_TTL)
    backend.pass_time(PAST_SHORT_TTL)
    assert backend.storage.load_session("s") is None


def test_session_lives_while_its_ttl_runs(backend: Backend) -> None:
    backend.storage.save_session("s", {"step": 1}, LONG_TTL)
    backend.pass_time(PAST_SHORT_TTL)
    assert backend.storage.load_session("s") == {"step": 1}


def test_session_lives_until_the_last_moment_of_its_ttl(clocked_backend: Backend) -> None:
    clocked_backend.storage.save_session("s", {"step": 1}, 10.0)
    clocked_backend.pass_time(9.99)
    assert clocked_backend.storage.load_session("s") == {"step": 1}


def test_saving_a_session_again_extends_it(clocked_backend: Backend) -> None:
    clocked_backend.storage.save_session("s", {"step": 1}, 10.0)
    clocked_backend.pass_time(8.0)
    clocked_backend.storage.save_session("s", {"step": 2}, 10.0)
    clocked_backend.pass_time(8.0)
    assert clocked_backend.storage.load_session("s") == {"step": 2}


@pytest.mark.parametrize("ttl", [0, -1.0, float("nan")])
def test_non_positive_ttl_is_rejected(backend: Backend, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        backend.storage.save_session("s", {}, ttl)


def test_session_state_must_be_a_dict(backend: Backend) -> None:
    with pytest.raises(TypeError, match="dict"):
        backend.storage.save_session("s", ["not", "a", "dict"], LONG_TTL)  # type: ignore[arg-type]


def _turn(user: str = "甲", at: float = 100.0) -> Writes:
    """What one answered message changes: its session and one logged question."""
    return (
        Writes()
        .with_session(f"s:{user}", {"last": user}, LONG_TTL)
        .with_question(make_record(at, text=f"{user}的问题"))
    )


def test_written_changes_are_all_there(backend: Backend) -> None:
    backend.storage.write(_turn("甲"))
    assert backend.storage.load_session("s:甲") == {"last": "甲"}
    assert [record.text for record in backend.storage.questions()] == ["甲的问题"]


def test_a_session_alone_or_a_question_alone_can_be_written(backend: Backend) -> None:
    backend.storage.write(Writes().with_session("s:乙", {"step": 2}, LONG_TTL))
    backend.storage.write(Writes().with_question(make_record(100.0)))
    assert backend.storage.load_session("s:乙") == {"step": 2}
    assert len(backend.storage.questions()) == 1


def test_writing_nothing_changes_nothing(backend: Backend) -> None:
    backend.storage.write(Writes())
    assert backend.storage.questions() == []


def test_a_delivered_reply_is_kept_with_its_changes(backend: Backend) -> None:
    reply = "学费为每年 6 万元。\nTuition: see the fees page."
    assert backend.storage.deliver("msg:1", reply, LONG_TTL, _turn("甲")) == reply
    assert backend.storage.load_reply("msg:1") == reply
    assert backend.storage.load_session("s:甲") == {"last": "甲"}
    assert len(backend.storage.questions()) == 1


def test_a_reply_and_a_session_are_read_together(backend: Backend) -> None:
    assert backend.storage.load_reply_and_session("msg:1", "s:甲") == (None, None)
    backend.storage.deliver("msg:1", "学费为每年 6 万元。", LONG_TTL, _turn("甲"))
    assert backend.storage.load_reply_and_session("msg:1", "s:甲") == ("学费为每年 6 万元。", {"last": "甲"})
    assert backend.storage.load_reply_and_session("msg:2", "s:甲") == (None, {"last": "甲"})
    assert backend.storage.load_reply_and_session("msg:1", "s:乙") == ("学费为每年 6 万元。", None)


def test_an_expired_reply_and_session_are_not_read_together(clocked_backend: Backend) -> None:
    clocked_backend.storage.deliver("msg:1", "hi", 10, Writes().with_session("s", {"step": 1}, 20))
    clocked_backend.pass_time(15)
    assert clocked_backend.storage.load_reply_and_session("msg:1", "s") == (None, {"step": 1})
    clocked_backend.pass_time(10)
    assert clocked_backend.storage.load_reply_and_session("msg:1", "s") == (None, None)


def test_a_second_delivery_gets_the_first_reply_and_changes_nothing(backend: Backend) -> None:
    backend.storage.deliver("msg:1", "first", LONG_TTL, _turn("甲"))
    assert backend.storage.deliver("msg:1", "second", LONG_TTL, _turn("乙", at=200.0)) == "first"
    assert backend.storage.load_session("s:乙") is None
    assert [record.time for record in backend.storage.questions()] == [100.0]


def _several(at: float = 100.0) -> Writes:
    """What a message that asks three things changes: its session and one logged question per part."""
    writes = Writes().with_session("s:丙", {"last": "丙"}, LONG_TTL)
    for n, text in enumerate(["学费多少？", "宿舍有空调吗？", "学制几年？"]):
        writes.with_question(make_record(at + n, text=text))
    return writes


def test_a_message_asking_several_things_logs_each_in_order(backend: Backend) -> None:
    backend.storage.write(_several())
    assert [record.text for record in backend.storage.questions()] == [
        "学费多少？",
        "宿舍有空调吗？",
        "学制几年？",
    ]


def test_a_delivered_message_asking_several_things_logs_each(backend: Backend) -> None:
    backend.storage.deliver("msg:1", "reply", LONG_TTL, _several())
    assert len(backend.storage.questions()) == 3
    assert backend.storage.load_session("s:丙") == {"last": "丙"}


def test_a_second_delivery_of_a_message_asking_several_things_logs_none_again(backend: Backend) -> None:
    backend.storage.deliver("msg:1", "first", LONG_TTL, _several())
    assert backend.storage.deliver("msg:1", "second", LONG_TTL, _several(at=200.0)) == "first"
    assert [record.time for record in backend.storage.questions()] == [100.0, 101.0, 102.0]


def test_a_delivery_claims_its_key_for_its_holder(backend: Backend) -> None:
    writes = _turn("甲").with_claim("nonce:1:a", "甲|msg:1", LONG_TTL)
    assert backend.storage.deliver("msg:1", "reply", LONG_TTL, writes) == "reply"
    assert backend.storage.load_reply("nonce:1:a") == "甲|msg:1"


def test_a_claim_held_by_another_refuses_the_delivery_and_keeps_nothing(backend: Backend) -> None:
    backend.storage.deliver(
        "msg:1", "first", LONG_TTL, Writes().with_claim("nonce:1:a", "甲|msg:1", LONG_TTL)
    )
    with pytest.raises(ClaimTaken):
        backend.storage.deliver(
            "msg:2", "forged", LONG_TTL, _turn("乙").with_claim("nonce:1:a", "乙|msg:2", LONG_TTL)
        )
    assert backend.storage.load_reply("msg:2") is None
    assert backend.storage.load_session("s:乙") is None
    assert backend.storage.questions() == []


def test_a_claim_held_by_the_same_holder_lets_the_delivery_through(backend: Backend) -> None:
    backend.storage.deliver("msg:1", "one", SHORT_TTL, Writes().with_claim("nonce:1:a", "甲|msg:1", LONG_TTL))
    backend.pass_time(PAST_SHORT_TTL)
    again = Writes().with_claim("nonce:1:a", "甲|msg:1", LONG_TTL)
    assert backend.storage.deliver("msg:1", "again", LONG_TTL, again) == "again"


def test_an_expired_claim_can_be_taken_by_another(backend: Backend) -> None:
    backend.storage.deliver("msg:1", "one", LONG_TTL, Writes().with_claim("nonce:1:a", "甲|msg:1", SHORT_TTL))
    backend.pass_time(PAST_SHORT_TTL)
    later = Writes().with_claim("nonce:1:a", "乙|msg:2", LONG_TTL)
    assert backend.storage.deliver("msg:2", "two", LONG_TTL, later) == "two"


def test_deliveries_are_per_key(backend: Backend) -> None:
    assert backend.storage.deliver("msg:1", "one", LONG_TTL, Writes()) == "one"
    assert backend.storage.deliver("msg:2", "two", LONG_TTL, Writes()) == "two"


def test_a_delivery_can_be_answered_again_after_its_reply_expires(backend: Backend) -> None:
    backend.storage.deliver("msg:1", "first", SHORT_TTL, Writes())
    backend.pass_time(PAST_SHORT_TTL)
    assert backend.storage.load_reply("msg:1") is None
    assert backend.storage.deliver("msg:1", "again", LONG_TTL, Writes()) == "again"


def test_delivery_rejects_a_non_positive_ttl(backend: Backend) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        backend.storage.deliver("msg:1", "hi", 0, Writes())


def test_exactly_one_thread_answers_a_racing_delivery(backend: Backend) -> None:
    racers = 8
    start = threading.Barrier(racers)

    def deliver(number: int) -> str:
        start.wait(timeout=HANG_GUARD_SECONDS)
        return backend.storage.deliver("msg:race", f"reply {number}", LONG_TTL, _turn(str(number), at=number))

    with ThreadPoolExecutor(max_workers=racers) as pool:
        futures = [pool.submit(deliver, number) for number in range(racers)]
        results = [future.result(timeout=HANG_GUARD_SECONDS) for future in futures]
    assert len(set(results)) == 1
    assert len(backend.storage.questions()) == 1


def test_unknown_reply_is_none(backend: Backend) -> None:
    assert backend.storage.load_reply("msg:unknown") is None


def test_hit_counts_within_a_window(backend: Backend) -> None:
    counts = [backend.storage.hit("user:a", LONG_TTL) for _ in range(4)]
    assert counts == [1, 2, 3, 4]


def test_hit_counters_are_per_key(backend: Backend) -> None:
    backend.storage.hit("user:a", LONG_TTL)
    backend.storage.hit("user:a", LONG_TTL)
    assert backend.storage.hit("用户:乙", LONG_TTL) == 1


def test_hit_counter_resets_after_its_window(backend: Backend) -> None:
    backend.storage.hit("user:a", SHORT_TTL)
    backend.storage.hit("user:a", SHORT_TTL)
    backend.pass_time(PAST_SHORT_TTL)
    assert backend.storage.hit("user:a", SHORT_TTL) == 1


def test_hits_do_not_extend_the_window(clocked_backend: Backend) -> None:
    clocked_backend.storage.hit("user:a", 10.0)
    clocked_backend.pass_time(6.0)
    clocked_backend.storage.hit("user:a", 10.0)
    clocked_backend.pass_time(6.0)
    assert clocked_backend.storage.hit("user:a", 10.0) == 1


def test_hit_rejects_a_non_positive_window(backend: Backend) -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        backend.storage.hit("user:a", 0)


def test_question_log_round_trip(backend: Backend) -> None:
    records = [
        make_record(100.0),
        make_record(101.5, outcome="declined", text="宿舍有空调吗？", faq_id=None),
        make_record(102.0, outcome="suggested", text="How much is the tuition fee?"),
    ]
    for record in records:
        backend.storage.log_question(record)
    assert backend.storage.questions() == records


def test_empty_question_log(backend: Backend) -> None:
    assert backend.storage.questions() == []


def test_questions_come_oldest_first(backend: Backend) -> None:
    for at in (300.0, 100.0, 200.0):
        backend.storage.log_question(make_record(at))
    assert [record.time for record in backend.storage.questions()] == [100.0, 200.0, 300.0]


def test_questions_since_includes_that_moment(backend: Backend) -> None:
    for at in (100.0, 200.0, 300.0):
        backend.storage.log_question(make_record(at))
    assert [record.time for record in backend.storage.questions(since=200.0)] == [200.0, 300.0]


def test_questions_filtered_by_outcome(backend: Backend) -> None:
    backend.storage.log_question(make_record(100.0, outcome="answered"))
    backend.storage.log_question(make_record(200.0, outcome="declined"))
    backend.storage.log_question(make_record(300.0, outcome="smalltalk"))
    assert [record.outcome for record in backend.storage.questions(outcome="declined")] == ["declined"]


def test_questions_filtered_by_since_and_outcome(backend: Backend) -> None:
    backend.storage.log_question(make_record(100.0, outcome="declined"))
    backend.storage.log_question(make_record(200.0, outcome="answered"))
    backend.storage.log_question(make_record(300.0, outcome="declined"))
    chosen = backend.storage.questions(since=150.0, outcome="declined")
    assert [record.time for record in chosen] == [300.0]


def test_cleanup_keeps_live_state_and_the_question_log(backend: Backend) -> None:
    backend.storage.save_session("live", {"step": 1}, LONG_TTL)
    backend.storage.deliver("msg:live", "hi", LONG_TTL, Writes())
    backend.storage.log_question(make_record(100.0))
    backend.storage.cleanup()
    assert backend.storage.load_session("live") == {"step": 1}
    assert backend.storage.load_reply("msg:live") == "hi"
    assert len(backend.storage.questions()) == 1


def test_expired_state_is_gone_after_cleanup(backend: Backend) -> None:
    backend.storage.save_session("s", {"step": 1}, SHORT_TTL)
    backend.storage.deliver("msg:1", "hi", SHORT_TTL, Writes())
    backend.pass_time(PAST_SHORT_TTL)
    backend.storage.cleanup()
    assert backend.storage.load_session("s") is None
    assert backend.storage.load_reply("msg:1") is None


def test_cleanup_counts_what_it_deleted(clocked_backend: Backend) -> None:
    storage = clocked_backend.storage
    storage.save_session("old", {}, SHORT_TTL)
    storage.deliver("msg:old", "hi", SHORT_TTL, Writes())
    storage.hit("user:old", SHORT_TTL)
    storage.save_session("live", {}, LONG_TTL)
    storage.deliver("msg:live", "hi", LONG_TTL, Writes())
    clocked_backend.pass_time(PAST_SHORT_TTL)
    assert storage.cleanup() == 3


def test_cleanup_has_nothing_left_the_second_time(backend: Backend) -> None:
    backend.storage.save_session("old", {}, SHORT_TTL)
    backend.pass_time(PAST_SHORT_TTL)
    backend.storage.cleanup()
    assert backend.storage.cleanup() == 0


def test_ping_answers(backend: Backend) -> None:
    assert backend.storage.ping() is True


# --- several processes ----------------------------------------------------------------------------


def _deliver_in_child(
    storage: Storage, keys: list[str], start: threading.Barrier, results: multiprocessing.Queue
) -> None:
    """Deliver every key with this process's reply after all racers are ready; report the keys it won."""
    try:
        start.wait(timeout=CHILD_WAIT_SECONDS)
        me = str(multiprocessing.current_process().pid)
        won = [key for key in keys if storage.deliver(key, me, LONG_TTL, _turn(me)) == me]
        results.put(("won", won))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put(("error", repr(exc)))


def test_exactly_one_process_answers_each_racing_delivery(shared_backend: Backend) -> None:
    context = multiprocessing.get_context("fork")
    keys = [f"msg:{number}" for number in range(50)]
    shared_backend.storage.ping()  # the parent holds an open connection when it forks
    start = context.Barrier(2)
    results = context.Queue()
    racers = [
        context.Process(target=_deliver_in_child, args=(shared_backend.storage, keys, start, results))
        for _ in range(2)
    ]
    for racer in racers:
        racer.start()
    try:
        reports = [results.get(timeout=CHILD_WAIT_SECONDS) for _ in racers]
    finally:
        for racer in racers:
            racer.join(timeout=CHILD_WAIT_SECONDS)
    assert [status for status, _ in reports] == ["won", "won"], reports
    first, second = (set(won) for _, won in reports)
    assert first.isdisjoint(second)
    assert first | second == set(keys)
    assert len(shared_backend.storage.questions()) == len(keys)


def _save_in_child(storage: Storage, results: multiprocessing.Queue) -> None:
    """Write a session from a forked worker."""
    try:
        storage.save_session("from-child", {"来自": "子进程"}, LONG_TTL)
        results.put("saved")
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put(repr(exc))


def test_forked_worker_shares_state_with_its_parent(shared_backend: Backend) -> None:
    context = multiprocessing.get_context("fork")
    shared_backend.storage.save_session("from-parent", {"step": 1}, LONG_TTL)
    results = context.Queue()
    child = context.Process(target=_save_in_child, args=(shared_backend.storage, results))
    child.start()
    try:
        report = results.get(timeout=CHILD_WAIT_SECONDS)
    finally:
        child.join(timeout=CHILD_WAIT_SECONDS)
    assert report == "saved"
    assert shared_backend.storage.load_session("from-child") == {"来自": "子进程"}


# --- SQLite specifics -----------------------------------------------------------------------------


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    SQLiteStorage(tmp_path / "faqbot.db").close()
    with sqlite3.connect(tmp_path / "faqbot.db") as raw:
        (mode,) = raw.execute("PRAGMA journal_mode").fetchone()
    raw.close()
    assert mode == "wal"


def test_sqlite_file_of_an_earlier_version_gets_claims_and_keeps_its_data(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "faqbot.db") as raw:
        raw.executescript(storage_module._SQLITE_SCHEMA)
        raw.execute("CREATE TABLE turns (reply_key TEXT, reply TEXT, reply_until REAL, now REAL)")
        raw.execute("INSERT INTO sessions VALUES ('s:old', '{\"step\": 1}', 9e9)")
    raw.close()
    storage = SQLiteStorage(tmp_path / "faqbot.db")
    try:
        assert storage.load_session("s:old") == {"step": 1}
        claimed = Writes().with_claim("nonce:1:a", "甲|msg:1", LONG_TTL)
        assert storage.deliver("msg:1", "reply", LONG_TTL, claimed) == "reply"
        assert storage.load_reply("nonce:1:a") == "甲|msg:1"
    finally:
        storage.close()


def test_sqlite_instances_on_one_file_share_state(tmp_path: Path) -> None:
    writer = SQLiteStorage(tmp_path / "faqbot.db")
    reader = SQLiteStorage(tmp_path / "faqbot.db")
    try:
        writer.save_session("s", {"step": 1}, LONG_TTL)
        assert reader.load_session("s") == {"step": 1}
    finally:
        writer.close()
        reader.close()


def test_sqlite_question_log_survives_reopening(tmp_path: Path) -> None:
    first = SQLiteStorage(tmp_path / "faqbot.db")
    first.log_question(make_record(100.0))
    first.close()
    second = SQLiteStorage(tmp_path / "faqbot.db")
    try:
        assert second.questions() == [make_record(100.0)]
    finally:
        second.close()


def test_sqlite_file_that_is_not_a_database_raises_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not an sqlite database" * 100)
    with pytest.raises(StorageError, match=r"garbage\.db"):
        SQLiteStorage(path)


def test_sqlite_closed_storage_does_not_answer_ping(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "faqbot.db")
    storage.close()
    assert storage.ping() is False


def test_sqlite_files_each_message_without_keeping_a_row_of_it(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "faqbot.db")
    try:
        storage.deliver("msg:1", "hi", LONG_TTL, _turn("甲"))
        storage.deliver("msg:1", "again", LONG_TTL, _turn("乙"))
        storage.write(_turn("丙"))
    finally:
        storage.close()
    with sqlite3.connect(tmp_path / "faqbot.db") as raw:
        assert raw.execute("SELECT count(*) FROM turns").fetchone() == (0,)
        assert raw.execute("SELECT count(*) FROM questions").fetchone() == (2,)
        assert raw.execute("SELECT count(*) FROM sessions").fetchone() == (2,)


def _wait_for(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_sqlite_upkeep_checkpoints_the_log_into_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage_module, "CHECKPOINT_SECONDS", 0.05)
    path = tmp_path / "faqbot.db"
    storage = SQLiteStorage(path)
    try:
        size_before = path.stat().st_size
        for number in range(50):
            storage.write(_turn(str(number)))
        # Writes go to the log first; only a checkpoint copies them into the database file itself.
        assert _wait_for(lambda: path.stat().st_size > size_before)
    finally:
        storage.close()


def test_sqlite_upkeep_deletes_expired_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_module, "CHECKPOINT_SECONDS", 0.05)
    monkeypatch.setattr(storage_module, "CLEANUP_SECONDS", 0.05)
    clock = FakeClock()
    storage = SQLiteStorage(tmp_path / "faqbot.db", clock=clock)
    try:
        storage.save_session("old", {}, SHORT_TTL)
        storage.save_session("live", {}, LONG_TTL)
        clock.advance(PAST_SHORT_TTL)

        def rows() -> list[tuple[str]]:
            with sqlite3.connect(tmp_path / "faqbot.db") as raw:
                return raw.execute("SELECT key FROM sessions ORDER BY key").fetchall()

        assert _wait_for(lambda: rows() == [("live",)])
    finally:
        storage.close()


# --- open_storage ---------------------------------------------------------------------------------


def test_open_storage_memory() -> None:
    assert open_storage("memory://").kind == "memory"


def test_open_storage_sqlite_absolute_url(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path}/abs.db")
    storage.close()
    assert (tmp_path / "abs.db").is_file()


def test_open_storage_sqlite_relative_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    storage = open_storage("sqlite://data/rel.db")
    storage.close()
    assert (tmp_path / "data" / "rel.db").is_file()


@pytest.mark.parametrize("name", ["plain.db", "plain.sqlite", "plain.sqlite3"])
def test_open_storage_plain_sqlite_path(tmp_path: Path, name: str) -> None:
    storage = open_storage(str(tmp_path / name))
    storage.close()
    assert storage.kind == "sqlite"


def test_open_storage_redis_url(redis_server: RedisServer) -> None:
    storage = open_storage(redis_server.url)
    try:
        assert (storage.kind, storage.ping()) == ("redis", True)
    finally:
        storage.close()


def test_open_storage_passes_the_clock_on(tmp_path: Path) -> None:
    clock = FakeClock()
    storage = open_storage("memory://", clock=clock)
    storage.save_session("s", {}, 10.0)
    clock.advance(11.0)
    assert storage.load_session("s") is None


@pytest.mark.parametrize(
    "url", ["", "memory", "postgres://db/faqbot", "notes.txt", "sqlite://", "http://127.0.0.1/x.db"]
)
def test_open_storage_rejects_unknown_urls(url: str) -> None:
    with pytest.raises(ValueError, match="accepted forms") as raised:
        open_storage(url)
    assert repr(url) in str(raised.value)
    assert "redis://host:port/db" in str(raised.value)


# --- Redis specifics ------------------------------------------------------------------------------


def test_redis_keys_live_under_the_faqbot_prefix(redis_server: RedisServer) -> None:
    _flush(redis_server.url)
    storage = RedisStorage(redis_server.url)
    raw = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        storage.save_session("s", {}, LONG_TTL)
        storage.deliver("m", "hi", LONG_TTL, Writes().with_session("t", {}, LONG_TTL))
        storage.hit("u", LONG_TTL)
        storage.log_question(make_record(100.0))
        keys = raw.keys("*")
    finally:
        raw.close()
        storage.close()
    assert len(keys) == 5
    assert all(key.startswith("faqbot:") for key in keys)


def test_redis_question_log_is_capped(redis_server: RedisServer) -> None:
    _flush(redis_server.url)
    storage = RedisStorage(redis_server.url, question_cap=3)
    try:
        for at in range(5):
            storage.log_question(make_record(float(at)))
        assert [record.time for record in storage.questions()] == [2.0, 3.0, 4.0]
    finally:
        storage.close()


REDIS_OPERATIONS: dict[str, Callable[[Storage], object]] = {
    "load_session": lambda storage: storage.load_session("s"),
    "save_session": lambda storage: storage.save_session("s", {"step": 1}, LONG_TTL),
    "deliver": lambda storage: storage.deliver("m", "hi", LONG_TTL, Writes().with_question(make_record(1.0))),
    "write": lambda storage: storage.write(Writes().with_question(make_record(1.0))),
    "load_reply": lambda storage: storage.load_reply("m"),
    "hit": lambda storage: storage.hit("u", LONG_TTL),
    "log_question": lambda storage: storage.log_question(make_record(100.0)),
    "questions": lambda storage: storage.questions(),
}


@pytest.fixture
def outage_storage(own_redis_server: RedisServer) -> Iterator[RedisStorage]:
    """A RedisStorage that has worked against a server which is then stopped."""
    storage = RedisStorage(own_redis_server.url)
    storage.save_session("s", {"step": 1}, LONG_TTL)
    own_redis_server.stop()
    try:
        yield storage
    finally:
        storage.close()


def _run_bounded(operation: Callable[[], object]) -> object:
    """Run an operation in a worker thread so a hang fails the test instead of stalling it."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(operation).result(timeout=HANG_GUARD_SECONDS)


@pytest.mark.parametrize("operation", list(REDIS_OPERATIONS))
def test_redis_outage_raises_storage_error(outage_storage: RedisStorage, operation: str) -> None:
    with pytest.raises(StorageError):
        _run_bounded(lambda: REDIS_OPERATIONS[operation](outage_storage))


def test_redis_outage_makes_ping_false(outage_storage: RedisStorage) -> None:
    assert _run_bounded(outage_storage.ping) is False


def test_redis_storage_reconnects_after_a_restart(own_redis_server: RedisServer) -> None:
    storage = RedisStorage(own_redis_server.url)
    try:
        storage.save_session("before", {"step": 1}, LONG_TTL)
        own_redis_server.stop()
        with pytest.raises(StorageError):
            _run_bounded(lambda: storage.load_session("before"))
        own_redis_server.restart()
        deadline = time.monotonic() + RECONNECT_WAIT_SECONDS
        while not storage.ping() and time.monotonic() < deadline:
            time.sleep(0.05)
        storage.save_session("after", {"步骤": 2}, LONG_TTL)
        assert storage.load_session("after") == {"步骤": 2}
    finally:
        storage.close()


# --- shared counters and tables (corpus generations, worker reports, admin throttle) -------------------------


def test_hits_reads_a_counter_without_counting(backend: Backend) -> None:
    storage = backend.storage
    assert storage.hits("生成") == 0
    storage.hit("生成", LONG_TTL)
    storage.hit("生成", LONG_TTL)

    assert (storage.hits("生成"), storage.hits("生成")) == (2, 2)


def test_shared_table_members_are_read_together_and_expire_alone(backend: Backend) -> None:
    storage = backend.storage
    storage.put_state("workers", "host:1", '{"generation": 1}', LONG_TTL)
    storage.put_state("workers", "host:2", '{"generation": 2}', SHORT_TTL)
    storage.put_state("other", "host:3", "x", LONG_TTL)
    assert storage.get_state("workers") == {"host:1": '{"generation": 1}', "host:2": '{"generation": 2}'}

    backend.clock.advance(
        PAST_SHORT_TTL
    )  # members carry their own expiry, by the injected clock on every backend

    assert storage.get_state("workers") == {"host:1": '{"generation": 1}'}


def test_question_counts_group_by_outcome_day_entry_language_and_channel(backend: Backend) -> None:
    day = 86400.0
    start = 1_700_000_000.0
    for offset, outcome, entry, lang, channel in [
        (0, "answered", "tuition-fee", "zh", "api"),
        (day, "declined", None, "en", "wechat"),
        (day + 1, "answered", "tuition-fee", "en", "web"),
    ]:
        backend.storage.log_question(
            QuestionRecord(start + offset, "u", channel, "问题", lang, outcome, entry, entry, 50.0)
        )

    everything = backend.storage.question_counts()
    later = backend.storage.question_counts(since=start + day)

    assert everything.total == 3
    assert everything.outcomes == {"answered": 2, "declined": 1}
    assert everything.per_day == {"2023-11-14": 1, "2023-11-15": 2}
    assert everything.per_entry == {"tuition-fee": 2}
    assert everything.per_language == {"zh": 1, "en": 2}
    assert everything.per_channel == {"api": 1, "wechat": 1, "web": 1}
    assert (later.total, later.per_day) == (2, {"2023-11-15": 2})


def test_sqlite_keeps_a_bounded_number_of_connections_whatever_the_threads(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "faqbot.db", max_connections=3)

    def one_thread(number: int) -> None:
        storage.save_session(f"s{number}", {"n": number}, LONG_TTL)
        assert storage.load_session(f"s{number}") == {"n": number}

    for number in range(200):  # a new thread per request, as `python server.py` runs
        thread = threading.Thread(target=one_thread, args=(number,))
        thread.start()
        thread.join()

    assert storage.open_connections <= 3
    storage.close()
    assert storage.open_connections == 0
