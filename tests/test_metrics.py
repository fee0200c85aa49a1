"""/metrics: Prometheus figures of what was asked and what went wrong, readable only by the monitoring."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_helpers import STUDENT, SettableClock, WeChatPeer, app_config, make_app, text_xml
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from bot.config import ConfigError, load_config
from bot.engine import Brain
from bot.storage import MemoryStorage, SQLiteStorage, Storage

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
    # Reading the conversation and writing the turn both failed.
    assert scrape(client)[("faqbot_storage_errors_total", ())] == 2


def test_an_allow_list_entry_that_is_no_address_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("server:\n  metrics_allow: [prometheus.example]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"server\.metrics_allow"):
        load_config(path, env={})
