"""The console's store on SQLite and on a real Redis, the corpus writer's round trips, and `staff add`."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from app_helpers import SettableClock
from console_helpers import PASSWORD, RIGHT_ENTRY, WRONG_ENTRY, WRONG_QUESTION, copy_corpus
from redis_server import (  # noqa: F401 (the fixtures register by being imported)
    RedisServer,
    own_redis_server_fixture,
    redis_server_fixture,
)
from werkzeug.security import check_password_hash

from bot.cli import main
from bot.config import load_config
from bot.console.accounts import AccountError, add_account
from bot.console.service import failure_records
from bot.console.store import (
    LOCKOUT_FAILURES,
    LOCKOUT_SECONDS,
    PUBLISH_LOCK_SECONDS,
    SESSION_SECONDS,
    ConsoleStore,
    SQLiteBackend,
    open_backend,
)
from bot.corpus_writer import (
    add_alternate,
    entry_as_form,
    read_corpus_files,
    relabel_eval_item,
    remove_out_of_scope_terms,
    save_entry,
)
from bot.engine import FAQBot
from bot.evaluation import evaluate_bot
from bot.storage import MemoryStorage

REPO_CORPUS = Path(__file__).resolve().parent.parent / "faq_corpus"


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ConsoleStore, SettableClock]]:
    clock = SettableClock()
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("own_redis_server")
        yield ConsoleStore(open_backend(server.url, clock), clock), clock
    else:
        yield ConsoleStore(open_backend(f"sqlite:///{tmp_path / 'console.db'}", clock), clock), clock


def test_passwords_are_kept_only_as_hashes(store: tuple[ConsoleStore, SettableClock]) -> None:
    console_store, _ = store
    add_account(console_store, "li.office", PASSWORD, "viewer")
    account = console_store.account("li.office")
    assert account["role"] == "viewer" and PASSWORD not in account["hash"]
    assert check_password_hash(account["hash"], PASSWORD)
    with pytest.raises(AccountError):
        add_account(console_store, "li.office", "short", "viewer")


def test_failures_lock_an_account_for_a_while(store: tuple[ConsoleStore, SettableClock]) -> None:
    console_store, clock = store
    for _ in range(LOCKOUT_FAILURES):
        assert not console_store.locked("li.office")
        console_store.failed_sign_in("li.office")
    assert console_store.locked("li.office")
    if isinstance(console_store.backend, SQLiteBackend):  # Redis keeps its own clock
        clock.advance(LOCKOUT_SECONDS + 1)
        assert not console_store.locked("li.office")


def test_sessions_expire_on_sqlite(tmp_path: Path) -> None:
    clock = SettableClock()
    console_store = ConsoleStore(open_backend(f"sqlite:///{tmp_path / 'c.db'}", clock), clock)
    console_store.open_session("token-1", "li.office", "csrf-1")
    assert console_store.session("token-1") == {"name": "li.office", "csrf": "csrf-1"}
    clock.advance(SESSION_SECONDS + 1)
    assert console_store.session("token-1") is None


def test_versions_are_numbered_and_keep_their_files(store: tuple[ConsoleStore, SettableClock]) -> None:
    console_store, _ = store
    assert console_store.latest_version() == 0
    first = console_store.publish({"a.yaml": "- id: a\n"}, "li", "first")
    second = console_store.publish({"a.yaml": "- id: b\n", "学费.txt": "学费"}, "li", "second")
    assert (first, second) == (1, 2) and console_store.latest_version() == 2
    assert console_store.version_files(2) == {"a.yaml": "- id: b\n", "学费.txt": "学费"}
    assert [v["note"] for v in console_store.versions()] == ["second", "first"]
    console_store.audit("li", "publish", "version 2")
    assert console_store.audit_log()[0]["action"] == "publish"


def test_marks_and_the_draft(store: tuple[ConsoleStore, SettableClock]) -> None:
    console_store, _ = store
    console_store.mark("g1", "dismiss", "li")
    assert console_store.marks()["g1"]["action"] == "dismiss"
    assert console_store.save_draft({"files": {"a.yaml": "x"}}, 0)
    assert console_store.draft() == {"files": {"a.yaml": "x"}, "revision": 1}
    console_store.drop_draft()
    assert console_store.draft() is None


def test_a_draft_saved_over_a_newer_one_is_refused(store: tuple[ConsoleStore, SettableClock]) -> None:
    console_store, _ = store
    assert console_store.save_draft({"files": {"a.yaml": "first"}}, 0)
    assert not console_store.save_draft({"files": {"a.yaml": "stale"}}, 0)
    assert console_store.draft()["files"] == {"a.yaml": "first"}
    assert console_store.save_draft({"files": {"a.yaml": "second"}}, 1)
    assert not console_store.drop_draft(1)  # a publish of revision 1 keeps the later save
    assert console_store.draft()["files"] == {"a.yaml": "second"}
    assert console_store.drop_draft(2) and console_store.draft() is None


def at_once(work: Callable[[int], object], callers: int = 8) -> list[object]:
    """Run work(i) in several threads released together; their results in order."""
    start = threading.Barrier(callers)
    results: list[object] = [None] * callers

    def run(i: int) -> None:
        start.wait(timeout=30)
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_of_editors_saving_the_same_draft_at_once_one_wins(store: tuple[ConsoleStore, SettableClock]) -> None:
    console_store, _ = store
    saved = at_once(lambda i: console_store.save_draft({"files": {"a.yaml": f"editor {i}"}}, 0))
    assert saved.count(True) == 1
    assert console_store.draft()["files"] == {"a.yaml": f"editor {saved.index(True)}"}


def test_one_publish_lock_at_a_time(store: tuple[ConsoleStore, SettableClock]) -> None:
    console_store, _ = store
    tokens = at_once(lambda i: console_store.take_publish_lock(f"editor{i}"))
    winners = [t for t in tokens if t is not None]
    assert len(winners) == 1
    holder = console_store.publish_lock()
    assert holder["user"] == f"editor{tokens.index(winners[0])}"
    console_store.release_publish_lock("not the holder's token")
    assert console_store.take_publish_lock("li") is None
    console_store.release_publish_lock(winners[0])
    assert console_store.publish_lock() is None and console_store.take_publish_lock("li") is not None


def test_a_publish_lock_left_by_a_stopped_worker_expires(tmp_path: Path) -> None:
    clock = SettableClock()
    console_store = ConsoleStore(open_backend(f"sqlite:///{tmp_path / 'c.db'}", clock), clock)
    assert console_store.take_publish_lock("li") is not None
    assert console_store.take_publish_lock("wang") is None
    clock.advance(PUBLISH_LOCK_SECONDS + 1)
    assert console_store.take_publish_lock("wang") is not None


# --- the corpus writer ---
def test_an_unchanged_entry_is_written_back_byte_for_byte() -> None:
    files = read_corpus_files(REPO_CORPUS)
    for entry_id in ("tuition-fee", "admissions-quota", "contact", "campus-address"):
        form = entry_as_form(files, entry_id)
        assert save_entry(files, form, entry_id) == files


def test_an_added_alternate_changes_one_line_and_keeps_comments() -> None:
    files = read_corpus_files(REPO_CORPUS)
    changed = add_alternate(files, "tuition-fee", "en", "what does a year cost")
    diff = [
        line
        for line in difflib.unified_diff(files["fees.yaml"].splitlines(), changed["fees.yaml"].splitlines())
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert diff == ["+      - what does a year cost"]
    assert changed["fees.yaml"].startswith("# Fees:")


def test_relabelling_and_unlisting_edit_the_data_files() -> None:
    files = read_corpus_files(REPO_CORPUS)
    relabelled = relabel_eval_item(files, "eval.yaml", "招生人数", "zh", ["province-quota"])
    assert 'q: "招生人数"\n    id: province-quota' in relabelled["eval.yaml"]
    unlisted = remove_out_of_scope_terms(files, ["宿舍", "dormitory"])
    assert "宿舍," not in unlisted["out_of_scope.yaml"] and "寝室" in unlisted["out_of_scope.yaml"]
    assert unlisted["out_of_scope.yaml"].startswith("# Topics families ask about")


# --- the command line ---
def test_staff_add_prompts_for_the_password_and_stores_its_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    corpus = copy_corpus(tmp_path)
    config.write_text(f"corpus_dir: {corpus}\nstorage: sqlite://console.db\n", encoding="utf-8")
    monkeypatch.setattr("getpass.getpass", lambda prompt="": PASSWORD)
    assert main(["--config", str(config), "staff", "add", "chen.office", "--role", "viewer"]) == 0
    assert main(["--config", str(config), "staff", "list"]) == 0
    assert "chen.office\tviewer" in capsys.readouterr().out
    store = ConsoleStore(open_backend(f"sqlite:///{tmp_path / 'console.db'}"))
    assert check_password_hash(store.account("chen.office")["hash"], PASSWORD)


def test_eval_prints_failures_new_and_fixed_since_the_last_publish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    corpus = copy_corpus(tmp_path)
    config.write_text(f"corpus_dir: {corpus}\nstorage: sqlite://console.db\n", encoding="utf-8")
    published = evaluate_bot(FAQBot(load_config(config), MemoryStorage()), corpus / "eval.yaml")
    gone = {"question": "a question since removed", "lang": "en", "expected": [], "kind": "false"}
    store = ConsoleStore(open_backend(f"sqlite:///{tmp_path / 'console.db'}"))
    store.save_published_failures(
        "eval.yaml", [*failure_records(published), {**gone, "got": "contact", "confidence": 60.0}]
    )
    add = add_alternate(read_corpus_files(corpus), WRONG_ENTRY, "zh", WRONG_QUESTION)
    (corpus / "admissions.yaml").write_text(add["admissions.yaml"], encoding="utf-8")
    main(["--config", str(config), "eval", "--quiet"])
    out = capsys.readouterr().out
    assert "since the last publish: 1 new failure(s), 1 fixed" in out
    assert f"  new [wrong] {WRONG_QUESTION!r}: expected {RIGHT_ENTRY}, got {WRONG_ENTRY}" in out
    assert "  fixed 'a question since removed'" in out
    if "PASS: meets the thresholds" in out:
        assert "PASS on the thresholds, but with 1 new failure(s) since the last publish" in out
