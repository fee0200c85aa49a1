"""/admin/reload with several gunicorn workers: every later answer, from any worker, has the new text."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from live_server import LiveServer, write_config

MINI_CORPUS = Path(__file__).resolve().parent / "data" / "mini_corpus"
ADMIN_TOKEN = "reload-test-token"
WORKERS = 3
WORKERS_START_SECONDS = 90.0
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def worker_reports(server: LiveServer) -> dict:
    return json.loads(server.request("GET", "/healthz", headers=ADMIN)[1])["workers"]


@pytest.fixture
def three_workers(tmp_path: Path):
    corpus = tmp_path / "corpus"
    shutil.copytree(MINI_CORPUS, corpus)
    config = write_config(
        tmp_path / "config.yaml",
        corpus,
        f"sqlite:///{tmp_path / 'faqbot.db'}",
        server={
            "watch_corpus": False,
            "watch_interval": 0.5,
            "rate_limit_per_minute": 0,
            "rate_limit_per_address": 0,
        },
    )
    server = LiveServer.gunicorn(config, tmp_path, WORKERS, env={"FAQBOT_ADMIN_TOKEN": ADMIN_TOKEN})
    yield server, corpus
    server.stop()


def test_reload_with_three_workers_reaches_every_worker(three_workers: tuple[LiveServer, Path]) -> None:
    server, corpus = three_workers
    old = server.ask("学费多少")[1]["answer"]
    entries = corpus / "entries.yaml"
    entries.write_text(entries.read_text(encoding="utf-8").replace("学费为每年", "新学费每年"), "utf-8")
    # Let every worker start and report in before the reload, so the reply can tell who has it.
    deadline = time.monotonic() + WORKERS_START_SECONDS
    while len(worker_reports(server)) < WORKERS and time.monotonic() < deadline:
        time.sleep(0.2)

    status, body, _ = server.request(
        "POST", "/admin/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    report = json.loads(body)

    assert status == 200, report
    assert report["everywhere"] is True, report
    assert len(report["workers"]) == WORKERS, report
    answers = [server.ask("学费多少")[1]["answer"] for _ in range(30)]
    assert all("新学费" in answer for answer in answers)
    assert "新学费" not in old


def test_the_access_log_of_gunicorn_is_json_without_query_strings(
    three_workers: tuple[LiveServer, Path],
) -> None:
    server, _ = three_workers
    server.request("GET", "/healthz?signature=0123456789abcdef&nonce=555&openid=oSecret42")
    server.request("GET", '/odd\\path"quote')

    # A worker writes its access record just after the response: wait (bounded) for both records.
    deadline = time.monotonic() + 30
    while True:
        records = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        paths = [record.get("path") for record in records if record.get("logger") == "faqbot.access"]
        if '/odd\\path"quote' in paths or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert "/healthz" in paths and '/odd\\path"quote' in paths
    assert "oSecret42" not in server.log() and "0123456789abcdef" not in server.log()
