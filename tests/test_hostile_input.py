"""Hostile and odd requests, and settings that would break every request, are refused cleanly."""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from app_helpers import (
    ADMIN_TOKEN,
    MINI_CORPUS,
    STUDENT,
    SettableClock,
    WeChatPeer,
    app_config,
    event_xml,
    make_app,
    message_xml,
    text_xml,
    with_wechat,
)
from flask.testing import FlaskClient

from bot.config import ConfigError, load_config
from bot.dialogue import Conversation
from bot.engine import Brain, build_brain
from bot.storage import MemoryStorage, QuestionRecord, SQLiteStorage

RIGHT = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def mini() -> Brain:
    return build_brain(app_config(corpus_dir=MINI_CORPUS))


def client_for(
    brain: Brain, storage: Any = None, clock: SettableClock | None = None, **server: Any
) -> FlaskClient:
    config = app_config(env={"FAQBOT_ADMIN_TOKEN": ADMIN_TOKEN}, corpus_dir=MINI_CORPUS, **server)
    return make_app(config, brain, storage or MemoryStorage(), clock or SettableClock()).test_client()


MENU_KEYS = {"TUITION": "tuition-fee", "PHONE": "contact-phone"}


def wechat_peer(brain: Brain, storage: Any = None, mode: str = "compatible", **server: Any) -> WeChatPeer:
    clock = SettableClock()
    config = with_wechat(app_config(corpus_dir=MINI_CORPUS, **server), mode=mode, menu_keys=MENU_KEYS)
    return WeChatPeer(make_app(config, brain, storage or MemoryStorage(), clock).test_client(), clock)


# --- 2: nesting ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [10, 100, 1000, 10_000, 100_000])
@pytest.mark.parametrize("where", ["array", "object", "question", "session"])
def test_json_nested_to_any_depth_is_a_400(mini: Brain, depth: int, where: str) -> None:
    arrays = "[" * depth + "]" * depth
    body = {
        "array": arrays,
        "object": '{"":' * depth + "1" + "}" * depth,
        "question": '{"question": ' + arrays + "}",
        "session": '{"question": "hi", "session": ' + arrays + "}",
    }[where]
    response = client_for(mini, max_body_bytes=1_000_000).post(
        "/api/ask", data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "error" in response.get_json()


# --- 4: a menu number after a reload ------------------------------------------------------------------------


def test_a_menu_number_whose_entry_a_reload_removed_is_not_an_error(mini: Brain) -> None:
    convo = Conversation(lang="zh", offered=["an-entry-removed-by-a-reload", *mini.dialogue.texts.menu])
    reply = mini.dialogue.respond("1", convo)
    assert reply.text


# --- 5: settings ranges -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("dialogue", "session_ttl", 0),
        ("dialogue", "dedupe_ttl", 0),
        ("dialogue", "session_ttl", 0.5),
        ("server", "watch_interval", -1),
        ("server", "watch_interval", 0),
        ("server", "rate_limit_per_minute", -1),
        ("server", "max_body_bytes", 0),
        ("wechat", "max_clock_skew", -5),
        ("wechat", "mode", "secret"),
    ],
)
def test_a_setting_out_of_range_stops_start_up_naming_the_key(
    tmp_path: Path, section: str, key: str, value: Any
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"{section}:\n  {key}: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{section}\.{key}"):
        load_config(path, env={})


def test_safe_mode_without_an_aes_key_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"wechat\.mode"):
        load_config(None, env={"FAQBOT_WECHAT_MODE": "safe"})


def test_the_user_hash_salt_has_an_environment_override() -> None:
    assert load_config(None, env={"FAQBOT_USER_HASH_SALT": "s3cret"}).dialogue.user_hash_salt == "s3cret"


# --- 6: retention and expiry --------------------------------------------------------------------------------


def record(at: float, text: str) -> QuestionRecord:
    return QuestionRecord(at, "u", "api", text, "en", "answered", "x", "x", 90.0)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_questions_older_than_the_retention_are_deleted(tmp_path: Path, backend: str) -> None:
    clock = SettableClock(now=1000.0)
    day = 86400.0
    storage = (
        MemoryStorage(clock=clock, question_log_seconds=30 * day)
        if backend == "memory"
        else SQLiteStorage(tmp_path / "q.db", clock=clock, question_log_seconds=30 * day)
    )
    storage.log_question(record(1000.0, "old"))
    storage.log_question(record(1000.0 + 20 * day, "recent"))
    clock.advance(40 * day)

    assert storage.cleanup() >= 1
    assert [q.text for q in storage.questions()] == ["recent"]
    storage.close()


def test_the_memory_backend_deletes_expired_sessions_by_itself() -> None:
    clock = SettableClock()
    storage = MemoryStorage(clock=clock)
    for number in range(10):
        storage.save_session(f"s{number}", {}, 1)
    clock.advance(120)
    storage.save_session("another", {}, 600)  # any write lets it tidy up

    assert storage.cleanup() == 0  # nothing left to delete: the ten expired sessions are gone


# --- 1: storage failures show in /healthz -------------------------------------------------------------------


def test_a_failing_question_log_write_shows_in_healthz(mini: Brain, tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "faqbot.db")
    client = client_for(mini, storage)
    assert client.get("/healthz").get_json() == {"status": "ok"}
    with sqlite3.connect(tmp_path / "faqbot.db") as other:
        other.execute(
            "CREATE TRIGGER full BEFORE INSERT ON questions BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )

    assert client.post("/api/ask", json={"question": "学费多少"}).status_code == 200
    assert client.get("/healthz").get_json() == {"status": "degraded"}
    assert "disk full" in client.get("/healthz", headers=RIGHT).get_json()["last_storage_error"]
    storage.close()


# --- 7, 8: replayed and plaintext WeChat deliveries ---------------------------------------------------------


def test_a_replayed_timestamp_and_nonce_with_another_message_is_refused(mini: Brain) -> None:
    peer = wechat_peer(mini)
    query = peer.query()
    assert peer.post_plain(text_xml("学费多少", msg_id="1"), query).status_code == 200

    forged = peer.post_plain(text_xml("hello", msg_id="2", from_user="oSomeoneElse"), query)

    assert forged.status_code == 403


def test_a_replay_is_refused_by_another_worker_sharing_the_storage(mini: Brain, tmp_path: Path) -> None:
    first = wechat_peer(mini, SQLiteStorage(tmp_path / "shared.db"))
    second = wechat_peer(mini, SQLiteStorage(tmp_path / "shared.db"))
    query = first.query()
    assert first.post_plain(text_xml("学费多少", msg_id="1"), query).status_code == 200

    assert second.post_plain(text_xml("学费多少", msg_id="2"), query).status_code == 403


def test_a_retry_of_the_same_message_with_the_same_nonce_gets_the_same_reply(mini: Brain) -> None:
    peer = wechat_peer(mini)
    query = peer.query()
    first = peer.post_plain(text_xml("学费多少"), query)
    retry = peer.post_plain(text_xml("学费多少"), query)

    assert (first.status_code, retry.status_code) == (200, 200)
    assert peer.open_reply(first)["Content"] == peer.open_reply(retry)["Content"]


def test_safe_mode_refuses_plaintext(mini: Brain) -> None:
    peer = wechat_peer(mini, mode="")  # an AES key is configured: safe by default

    assert peer.post_plain(text_xml("学费多少")).status_code == 403
    assert peer.post_safe(text_xml("学费多少")).status_code == 200


# --- 9, 10: channels, clicks and retries --------------------------------------------------------------------


def test_an_openid_sent_as_an_api_session_does_not_touch_the_wechat_conversation(mini: Brain) -> None:
    storage = MemoryStorage()
    peer = wechat_peer(mini, storage)
    peer.ask("plain", text_xml("How much is the tuition fee?", msg_id="1"))
    api = client_for(mini, storage)
    for _ in range(3):
        api.post("/api/ask", json={"question": "学费多少", "session": STUDENT})

    reply = peer.ask("plain", message_xml("voice", msg_id="2", MediaId="m", Format="amr"))

    assert any(c.isascii() and c.isalpha() for c in reply["Content"])  # still English, not Chinese


def test_two_menu_clicks_in_the_same_second_are_both_answered(mini: Brain) -> None:
    peer = wechat_peer(mini)
    replies = [peer.ask("plain", event_xml("CLICK", key)) for key in MENU_KEYS]

    assert replies[0]["Content"] != replies[1]["Content"]


def test_wechat_retries_do_not_count_toward_the_rate_limit(mini: Brain) -> None:
    peer = wechat_peer(mini, rate_limit_per_minute=2)
    for _ in range(4):
        peer.ask("plain", text_xml("学费多少", msg_id="1"))
    second = peer.ask("plain", text_xml("有奖学金吗", msg_id="2"))

    limited = peer.client.application.extensions["faqbot"].say("rate_limited", "zh")
    assert second["Content"] != limited


# --- 11: headers --------------------------------------------------------------------------------------------


def test_the_chat_page_has_security_headers(mini: Brain) -> None:
    response = client_for(mini).get("/")
    response.close()

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_verification_does_not_echo_markup(mini: Brain) -> None:
    peer = wechat_peer(mini)
    response = peer.verify({**peer.query(), "echostr": "<script>alert(1)</script>"})

    assert response.status_code == 400
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- 12: per-address limit and trusted proxies --------------------------------------------------------------


def test_the_api_is_limited_per_address_whatever_the_session(mini: Brain) -> None:
    client = client_for(mini, rate_limit_per_address=5)
    statuses = [
        client.post("/api/ask", json={"question": "学费多少", "session": f"s{n}"}).status_code
        for n in range(6)
    ]
    assert statuses == [200] * 5 + [429]


@pytest.mark.parametrize(("proxies", "expected"), [(1, [200] * 4), (0, [200, 200, 429, 429])])
def test_forwarded_addresses_count_only_behind_a_trusted_proxy(
    mini: Brain, proxies: int, expected: list[int]
) -> None:
    client = client_for(mini, rate_limit_per_address=2, trusted_proxies=proxies)
    statuses = [
        client.post(
            "/api/ask", json={"question": "学费多少"}, headers={"X-Forwarded-For": f"198.51.100.{n}"}
        ).status_code
        for n in range(4)
    ]
    assert statuses == expected


# --- 13: admin tokens ---------------------------------------------------------------------------------------


def test_wrong_admin_tokens_are_throttled_per_address_and_not_logged(mini: Brain) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("faqbot").addHandler(handler)
    try:
        client = client_for(mini, admin_failures_per_minute=3)
        wrong = [client.get("/admin/stats", headers={"Authorization": f"Bearer guess-{n}"}) for n in range(4)]
        right_but_throttled = client.get("/admin/stats", headers=RIGHT)
    finally:
        logging.getLogger("faqbot").removeHandler(handler)

    assert [r.status_code for r in wrong] == [401, 401, 401, 429]
    assert wrong[-1].headers["Retry-After"] == "60"
    assert right_but_throttled.status_code == 429
    logged = " ".join(str(vars(r)) for r in records)
    assert "refused an admin request" in logged and "guess-" not in logged


def test_the_bearer_scheme_is_case_insensitive_and_x_admin_token_is_gone(mini: Brain) -> None:
    client = client_for(mini)
    assert client.get("/admin/stats", headers={"Authorization": f"bearer {ADMIN_TOKEN}"}).status_code == 200
    assert client.get("/admin/stats", headers={"X-Admin-Token": ADMIN_TOKEN}).status_code == 401


# --- 14: /healthz ---------------------------------------------------------------------------------------------


def test_public_healthz_tells_nothing_but_the_status(mini: Brain) -> None:
    assert client_for(mini).get("/healthz").get_json() == {"status": "ok"}


# --- 16, 17: broken dialogue texts and user dictionary ------------------------------------------------------


def admin_over(corpus: Path) -> FlaskClient:
    config = app_config(env={"FAQBOT_ADMIN_TOKEN": ADMIN_TOKEN}, corpus_dir=corpus)
    return make_app(config, build_brain(config), MemoryStorage(), SettableClock()).test_client()


BREAKAGES = {
    "dialogue syntax": ("dialogue.yaml", b"replies: [unclosed\n"),
    "dialogue placeholder": None,
    "dialogue deleted": ("dialogue.yaml", None),
    "userdict not utf-8": ("userdict.txt", "学费 5 n\n".encode("gb18030")),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_dialogue_or_dictionary_keeps_the_old_texts_and_shows_in_healthz(
    tmp_corpus: Path, breakage: str
) -> None:
    client = admin_over(tmp_corpus)
    greeting = client.post("/api/ask", json={"question": "hello"}).get_json()["answer"]
    if breakage == "dialogue placeholder":
        path = tmp_corpus / "dialogue.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace("{phone}", "{telephone}"), encoding="utf-8")
    else:
        name, content = BREAKAGES[breakage]  # type: ignore[misc]
        if content is None:
            (tmp_corpus / name).unlink()
        else:
            (tmp_corpus / name).write_bytes(content)

    response = client.post("/admin/reload", headers=RIGHT)

    assert response.status_code == 422
    assert "/" not in response.get_json()["error"].replace("N/A", "")
    assert client.post("/api/ask", json={"question": "hello"}).get_json()["answer"] == greeting
    assert client.get("/healthz").get_json() == {"status": "degraded"}


def test_no_response_body_holds_a_file_path(tmp_corpus: Path) -> None:
    client = admin_over(tmp_corpus)
    (tmp_corpus / "entries.yaml").unlink()

    body = client.post("/admin/reload", headers=RIGHT).get_data(as_text=True)

    assert str(tmp_corpus) not in body
    assert str(tmp_corpus) not in client.get("/healthz", headers=RIGHT).get_data(as_text=True)


def test_config_replace_keeps_the_mode() -> None:
    config = app_config()
    assert replace(config.wechat, mode="safe").effective_mode == "safe"


def test_the_corpus_watcher_survives_a_user_dictionary_it_cannot_read(tmp_corpus: Path) -> None:
    config = app_config(
        env={"FAQBOT_ADMIN_TOKEN": ADMIN_TOKEN}, corpus_dir=tmp_corpus, watch_corpus=True, watch_interval=0.1
    )
    client = make_app(config, build_brain(config), MemoryStorage(), SettableClock()).test_client()
    entries = len(build_brain(config).corpus.entries)
    userdict = tmp_corpus / "userdict.txt"
    good = userdict.read_bytes()

    userdict.write_bytes("学费 5 n\n".encode("gb18030"))
    broken = wait_for_health(client, lambda health: bool(health["last_reload_error"]))
    userdict.write_bytes(good + "新词 3 n\n".encode())
    with (tmp_corpus / "entries.yaml").open("a", encoding="utf-8") as file:
        file.write(WATCHED_ENTRY)
    repaired = wait_for_health(client, lambda health: health["entries"] == entries + 1)

    assert "userdict.txt" in broken["last_reload_error"]
    assert (repaired["status"], repaired["last_reload_error"]) == ("ok", None)


WATCHED_ENTRY = """
- id: watched-entry
  category: admissions
  question: {en: "Is the watcher still alive?", zh: "监视线程还在吗？"}
  alternates:
    en: [watcher alive, still watching, is it watching]
    zh: [还在监视吗, 监视线程, 线程还在吗]
  answer: {en: "Yes.", zh: "在。"}
  source: test
"""


def wait_for_health(client: FlaskClient, condition: Any, seconds: float = 60.0) -> dict:
    """The admin /healthz once condition holds (polled, bounded); fails the test when it never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        health = client.get("/healthz", headers=RIGHT).get_json()
        if condition(health):
            return health
        time.sleep(0.05)
    raise AssertionError(f"/healthz never showed the expected state: {health}")
