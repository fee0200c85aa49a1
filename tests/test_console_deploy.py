"""A publish reaches every worker and every server: two gunicorn workers, and two servers sharing Redis."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from console_helpers import (
    EDITOR,
    PASSWORD,
    ask,
    console_app,
    console_config,
    console_of,
    copy_corpus,
    csrf_of,
    entry_form,
    sign_in,
)
from flask import Flask
from redis_server import (  # noqa: F401 (the fixtures register by being imported)
    RedisServer,
    free_loopback_port,
    own_redis_server_fixture,
    redis_server_fixture,
)

from bot.config import Config
from bot.console.accounts import add_account
from bot.console.store import open_console_store
from bot.engine import Brain

REPO_ROOT = Path(__file__).resolve().parent.parent
WATCH_INTERVAL = 0.5
DEADLINE_SECONDS = 60.0
NEW_PHRASING = "whom should I talk to"  # suggested, not answered, by the unchanged corpus


def two_servers(config: Config, brain: Brain, tmp_path: Path, redis: RedisServer) -> tuple[Flask, Flask]:
    """Two apps on corpus folders of their own that share one Redis, as two machines would."""
    return tuple(
        console_app(console_config(config, copy_corpus(tmp_path / name), redis.url), brain) for name in "ab"
    )


def test_a_publish_on_one_server_reaches_another_through_redis(
    config: Config, brain: Brain, tmp_path: Path, own_redis_server: RedisServer
) -> None:
    first, second = two_servers(config, brain, tmp_path, own_redis_server)
    editor, family = first.test_client(), second.test_client()
    assert not ask(family, NEW_PHRASING)["matched"]
    sign_in(editor)
    editor.post(
        "/admin/api/alternate",
        json={"entry": "contact", "lang": "en", "text": NEW_PHRASING},
        headers={"X-CSRF-Token": csrf_of(editor)},
    )
    assert editor.post("/admin/publish", data={"csrf": csrf_of(editor), "note": "r"}).status_code == 302
    # One turn of the second server's corpus watcher (no thread here, so none outlives the test's Redis).
    second.extensions["faqbot_console_watch"]()
    assert second.extensions["faqbot"].reload_if_changed() is True
    assert ask(family, NEW_PHRASING)["faq_id"] == "contact"
    other_folder = console_of(second).corpus_dir
    assert NEW_PHRASING in (other_folder / "contact.yaml").read_text(encoding="utf-8")
    second.extensions["faqbot_console_watch"]()  # nothing newer: nothing rewritten
    assert second.extensions["faqbot"].reload_if_changed() is None
    for app in (first, second):
        app.extensions["faqbot"].storage.close()


def test_a_broken_draft_reaches_no_server(
    config: Config, brain: Brain, tmp_path: Path, own_redis_server: RedisServer
) -> None:
    first, second = two_servers(config, brain, tmp_path, own_redis_server)
    editor, family = first.test_client(), second.test_client()
    sign_in(editor)
    broken = {
        **entry_form("tuition-fee", "How much is the tuition fee?", "学费是多少？"),
        "answer_zh": "待补充",
    }
    editor.post("/admin/entries/tuition-fee", data={**broken, "csrf": csrf_of(editor)})
    assert "待补充" in console_of(second).draft_files()["fees.yaml"]  # the draft is shared ...
    assert editor.post("/admin/publish", data={"csrf": csrf_of(editor), "note": "x"}).status_code == 409
    second.extensions["faqbot_console_watch"]()  # ... but only published versions are applied
    assert second.extensions["faqbot"].reload_if_changed() is None
    for client in (editor, family):
        assert "62,000" in ask(client, "How much is the tuition fee?")["answer"]
    assert "待补充" not in (console_of(second).corpus_dir / "fees.yaml").read_text(encoding="utf-8")
    for app in (first, second):
        app.extensions["faqbot"].storage.close()


@pytest.fixture
def gunicorn_url(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Two gunicorn workers over a corpus copy and one SQLite file, watching the corpus twice a second."""
    corpus = copy_corpus(tmp_path)
    settings = yaml.safe_load((REPO_ROOT / "config.yaml").read_text(encoding="utf-8"))
    settings.update(corpus_dir=str(corpus), storage=f"sqlite:///{tmp_path / 'faqbot.db'}")
    settings["server"].update(
        watch_interval=WATCH_INTERVAL,
        rate_limit_per_minute=0,
        rate_limit_per_address=0,
        admin_token=ADMIN_TOKEN,
    )
    settings["eval"]["sets"] = ["eval.yaml", "holdout.yaml"]  # as console_config: a quicker publish gate
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    add_account(open_console_store(settings["storage"]), EDITOR, PASSWORD)
    (tmp_path / "console_wsgi.py").write_text(
        f"from bot.config import load_config\nfrom server import create_app\n"
        f"app = create_app(load_config({str(config_file)!r}))\n",
        encoding="utf-8",
    )
    port = free_loopback_port()
    command = [
        sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "2", "--timeout", "120",
        "--bind", f"127.0.0.1:{port}", "--pythonpath", f"{tmp_path},{REPO_ROOT}", "console_wsgi:app",
    ]  # fmt: skip
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline and len(_loaded_times(url, 20)) < 2:
            time.sleep(0.5)
        yield url, corpus
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


ADMIN_TOKEN = "deploy-test-admin-token"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
"""/healthz gives a worker's corpus load time only to the admin token."""


def _loaded_times(url: str, tries: int) -> set[float]:
    """The corpus load times the workers report (a new connection each time, so both workers answer)."""
    seen = set()
    for _ in range(tries):
        try:
            with requests.Session() as one:
                health = one.get(f"{url}/healthz", headers=ADMIN_HEADERS, timeout=10).json()
                seen.add(health["corpus_loaded_at"])
        except (requests.RequestException, ValueError):
            continue
    return seen


@pytest.mark.skipif(os.name != "posix", reason="gunicorn runs on POSIX")
def test_a_publish_reaches_both_gunicorn_workers(gunicorn_url: tuple[str, Path]) -> None:
    url, corpus = gunicorn_url
    assert len(_loaded_times(url, 20)) == 2, "two workers should be answering"
    browser = requests.Session()
    form = browser.get(f"{url}/admin/sign-in", timeout=10).text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    browser.post(
        f"{url}/admin/sign-in", data={"csrf": token, "name": EDITOR, "password": PASSWORD}, timeout=10
    )
    csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get(f"{url}/admin/", timeout=10).text).group(1)
    added = browser.post(
        f"{url}/admin/api/alternate",
        json={"entry": "contact", "lang": "en", "text": NEW_PHRASING},
        headers={"X-CSRF-Token": csrf},
        timeout=120,  # the draft is checked before it is saved: seconds on a busy machine
    )
    assert added.status_code == 200
    published_at = time.time()
    response = browser.post(f"{url}/admin/publish", data={"csrf": csrf, "note": "w"}, timeout=120)
    assert response.url.endswith("/admin/history?published=1")
    assert NEW_PHRASING in (corpus / "contact.yaml").read_text(encoding="utf-8")
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        fresh = {t for t in _loaded_times(url, 10) if t > published_at}
        if len(fresh) >= 2:
            break
        time.sleep(WATCH_INTERVAL)
    assert len(fresh) >= 2, "both workers should have reloaded the published corpus"
    for _ in range(10):
        with requests.Session() as family:
            reply = family.post(f"{url}/api/ask", json={"question": NEW_PHRASING}, timeout=10).json()
        assert reply["faq_id"] == "contact"
