"""/metrics: Prometheus figures of what was asked and what went wrong, readable only by the monitoring."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_helpers import STUDENT, SettableClock, WeChatPeer, app_config, make_app, text_xml
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from bot.config import ConfigError, load_config
from bot.engine import Brain
from bot.storage import MemoryStorage, SQLiteStorage, Storage

REPO_ROOT = Path(__file__).resolve().parents[1]
TOKEN = "metrics-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def client_for(brain: Brain, storage: Storage | None = None, **server) -> tuple[FlaskClient, SettableClock]:
    clock = SettableClock()
    config = app_config(**{"admin_token": TOKEN, "rate_limit_per_minute": 0, **server})
    app = make_app(config, brain, storage if storage is not None else MemoryStorage(clock=clock), clock)
    return app.test_client(), clock


def scrape(client: FlaskClient, headers: dict[str, str] | None = None) -> dict[tuple[str, tuple], float]:
    """Every sample of a scrape, keyed by name and sorted labels."""
    response = client.get("/metrics", headers=headers or ADMIN)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def questions(samples: dict, channel: str, lang: str, outcome: str) -> float:
    key = ("faqbot_questions_total", (("channel", channel), ("lang", lang), ("outcome", outcome)))
    return samples.get(key, 0.0)


@pytest.fixture
def client(brain: Brain) -> FlaskClient:
    return client_for(brain)[0]


def test_a_scrape_without_the_admin_token_is_refused(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_metrics_are_off_without_an_admin_token_or_an_allowed_address(brain: Brain) -> None:
    client, _ = client_for(brain, admin_token="")
    assert client.get("/metrics").status_code == 404


def test_an_allowed_address_scrapes_without_the_token(brain: Brain) -> None:
    client, _ = client_for(brain, metrics_allow=("127.0.0.0/8",))
    assert client.get("/metrics").status_code == 200


def test_an_address_outside_the_allow_list_still_needs_the_token(brain: Brain) -> None:
    client, _ = client_for(brain, metrics_allow=("10.0.0.0/8",))
    assert client.get("/metrics").status_code == 401


def test_questions_are_counted_by_channel_language_and_outcome(client: FlaskClient) -> None:
    before = scrape(client)
    assert client.post("/api/ask", json={"question": "学费多少"}).get_json()["matched"] is True
    assert client.post("/api/ask", json={"question": "What is the tuition fee?"}).status_code == 200
    declined = client.post("/api/ask", json={"question": "What is the capital of Peru"})
    assert declined.get_json()["matched"] is False
    after = scrape(client)
    assert questions(after, "api", "zh", "answered") == questions(before, "api", "zh", "answered") + 1
    assert questions(after, "api", "en", "answered") == questions(before, "api", "en", "answered") + 1
    assert questions(after, "api", "en", "declined") == questions(before, "api", "en", "declined") + 1


def test_each_endpoint_has_a_latency_histogram(client: FlaskClient) -> None:
    client.post("/api/ask", json={"question": "学费多少"})
    client.get("/healthz")
    samples = scrape(client)
    assert samples[("faqbot_request_seconds_count", (("endpoint", "/api/ask"),))] == 1
    assert samples[("faqbot_request_seconds_count", (("endpoint", "/healthz"),))] == 1
    assert samples[("faqbot_request_seconds_bucket", (("endpoint", "/api/ask"), ("le", "+Inf")))] == 1


def test_the_corpus_being_served_is_described(client: FlaskClient, brain: Brain) -> None:
    samples = scrape(client)
    assert samples[("faqbot_corpus_entries", ())] == len(brain.corpus.entries)
    assert samples[("faqbot_corpus_loaded_timestamp_seconds", ())] == brain.loaded_at
    assert samples[("faqbot_corpus_reload_error", ())] == 0


def test_wechat_signature_failures_are_counted(brain: Brain) -> None:
    client, clock = client_for(brain)
    peer = WeChatPeer(client, clock)
    forged = peer.query(token="not-our-token")
    assert peer.post_plain(text_xml("学费多少"), query=forged).status_code == 403
    assert peer.verify(forged).status_code == 403
    assert scrape(client)[("faqbot_wechat_signature_failures_total", ())] == 2


def test_a_retry_answered_from_the_dedupe_store_is_counted_and_its_question_is_not(brain: Brain) -> None:
    client, clock = client_for(brain)
    peer = WeChatPeer(client, clock)
    first = peer.ask("plain", text_xml("学费多少", msg_id="777"))
    clock.advance(5)  # WeChat retries after five seconds without a reply
    again = peer.ask("plain", text_xml("学费多少", msg_id="777"))
    assert again == first
    samples = scrape(client)
    assert samples[("faqbot_wechat_retries_answered_total", ())] == 1
    assert questions(samples, "wechat", "zh", "answered") == 1


def test_storage_failures_the_bot_answers_through_are_counted(brain: Brain, tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "faqbot.db")
    client, _ = client_for(brain, storage=storage)
    storage.close()  # every later call fails with StorageError
    reply = client.post("/api/ask", json={"question": "学费多少", "session": STUDENT})
    assert reply.status_code == 200 and reply.get_json()["matched"] is True
    # The per-address limit, reading the conversation and writing the turn all failed (no per-session limit here).
    assert scrape(client)[("faqbot_storage_errors_total", ())] == 3


def test_an_allow_list_entry_that_is_no_address_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("server:\n  metrics_allow: [prometheus.example]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"server\.metrics_allow"):
        load_config(path, env={})


@pytest.fixture
def gunicorn_server(tmp_path: Path) -> Iterator[int]:
    """faqbot under gunicorn.conf.py with two workers on a free loopback port; yields the port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FAQBOT_", "PROMETHEUS_"))},
        "FAQBOT_BIND": f"127.0.0.1:{port}",
        "FAQBOT_WORKERS": "2",
        "FAQBOT_ADMIN_TOKEN": TOKEN,
        "FAQBOT_STORAGE": f"sqlite:///{tmp_path / 'faqbot.db'}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"]
    with (tmp_path / "gunicorn.log").open("wb") as log:
        server = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):  # up to a minute for the master to build the index and fork
            if server.poll() is not None:
                pytest.fail((tmp_path / "gunicorn.log").read_text())
            if len(worker_pids(server.pid)) == 2 and http_get(port, "/healthz")[0] == 200:
                break
            time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def worker_pids(master: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == master:
            pids.append(int(stat.parent.name))
    return pids


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8")
    except OSError:
        return 0, ""
    finally:
        connection.close()


def test_under_gunicorn_a_scrape_adds_up_every_workers_questions(gunicorn_server: int) -> None:
    for _ in range(12):  # a new connection each time, so that both workers answer some
        connection = http.client.HTTPConnection("127.0.0.1", gunicorn_server, timeout=10)
        body = json.dumps({"question": "学费多少"})
        connection.request("POST", "/api/ask", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["faq_id"] == "tuition-fee"
        connection.close()
    status, text = http_get(gunicorn_server, "/metrics", ADMIN)
    assert status == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert questions(samples, "api", "zh", "answered") == 12
    assert http_get(gunicorn_server, "/metrics")[0] == 401
