"""The JSON API, the chat page, /healthz and the admin endpoints of the real app."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from app_helpers import (
    ADMIN_TOKEN,
    MINI_CORPUS,
    SettableClock,
    app_config,
    make_app,
)
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bot.config import Config
from bot.corpus import load_corpus
from bot.engine import Brain, build_brain
from bot.storage import MemoryStorage, SQLiteStorage
from server import create_app

REPLY_FIELDS = {"answer", "matched", "faq_id", "score", "lang", "suggestions", "parts"}
SMALL_TALK = ["hello", "你好", "thanks", "菜单", "menu", "human", "人工"]
SUGGESTING = ["英语"]
DECLINED = ["签证怎么办", "What is the weather on Mars?", "宿舍有空调吗"]
ANSWERED = [
    ("学费多少", "tuition-fee", "zh"),
    ("How much is the tuition fee?", "tuition-fee", "en"),
    ("學費多少", "tuition-fee", "zh"),
    ("fees?", "tuition-fee", "en"),
    ("有奖学金吗", "scholarships", "zh"),
    ("are there any scholarships", "scholarships", "en"),
]


@pytest.fixture(scope="module")
def api_config() -> Config:
    return app_config(env={})


@pytest.fixture(scope="module")
def corpus_brain(api_config: Config) -> Brain:
    """The engine over the real corpus, built once for the module."""
    return build_brain(api_config)


@pytest.fixture
def client(
    api_config: Config, corpus_brain: Brain, storage: MemoryStorage, clock: SettableClock
) -> FlaskClient:
    return make_app(api_config, corpus_brain, storage, clock).test_client()


def ask(client: FlaskClient, question: Any, **fields: Any) -> TestResponse:
    return client.post("/api/ask", json={"question": question, **fields})


def ask_ok(client: FlaskClient, question: str, **fields: Any) -> dict[str, Any]:
    response = ask(client, question, **fields)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def entry_answer(brain: Brain, entry_id: str, lang: str) -> str:
    return brain.corpus.by_id()[entry_id].answer[lang]


# --- the reply --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question", ["学费多少", "How much is the tuition fee?", "hello", "英语", "签证怎么办"]
)
def test_reply_has_exactly_the_documented_fields_and_types(client: FlaskClient, question: str) -> None:
    response = ask(client, question)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    reply = response.get_json()
    assert set(reply) == REPLY_FIELDS
    assert isinstance(reply["answer"], str) and reply["answer"].strip()
    assert isinstance(reply["matched"], bool)
    assert reply["faq_id"] is None or isinstance(reply["faq_id"], str)
    assert isinstance(reply["score"], int | float) and not isinstance(reply["score"], bool)
    assert 0 <= reply["score"] <= 100
    assert reply["lang"] in ("en", "zh")
    assert isinstance(reply["suggestions"], list)
    for suggestion in reply["suggestions"]:
        assert set(suggestion) == {"id", "question"}
        assert isinstance(suggestion["id"], str) and isinstance(suggestion["question"], str)
    assert isinstance(reply["parts"], list)
    for part in reply["parts"]:
        assert set(part) == {"faq_id", "matched", "score"}
        assert part["faq_id"] is None or isinstance(part["faq_id"], str)
        assert isinstance(part["matched"], bool) and isinstance(part["score"], int | float)


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        ("学费多少？学制几年？", [("tuition-fee", True), ("duration", True)]),
        ("What's the fee, and is there an oral test?", [("tuition-fee", True), ("oral-exam", True)]),
        ("学费多少？宿舍有空调吗？", [("tuition-fee", True), (None, False)]),
        ("学费、学制、招多少人", [("tuition-fee", True), ("duration", True), ("admissions-quota", True)]),
    ],
)
def test_a_message_asking_several_things_has_a_part_for_each(
    client: FlaskClient, question: str, parts: list[tuple[str | None, bool]]
) -> None:
    reply = ask_ok(client, question)
    assert [(p["faq_id"], p["matched"]) for p in reply["parts"]] == parts
    assert (reply["faq_id"], reply["matched"]) == (parts[0][0], True)
    assert reply["score"] == reply["parts"][0]["score"]


@pytest.mark.parametrize(("question", "entry_id", "lang"), ANSWERED)
def test_one_question_is_one_part(client: FlaskClient, question: str, entry_id: str, lang: str) -> None:
    reply = ask_ok(client, question)
    assert reply["parts"] == [{"faq_id": entry_id, "matched": True, "score": reply["score"]}]


@pytest.mark.parametrize("question", DECLINED)
def test_a_declined_question_is_one_unmatched_part(client: FlaskClient, question: str) -> None:
    assert [(p["faq_id"], p["matched"]) for p in ask_ok(client, question)["parts"]] == [(None, False)]


@pytest.mark.parametrize("message", SMALL_TALK)
def test_small_talk_asks_nothing(client: FlaskClient, message: str) -> None:
    assert ask_ok(client, message)["parts"] == []


def test_each_part_of_an_api_message_is_logged(client: FlaskClient, storage: MemoryStorage) -> None:
    ask_ok(client, "学费多少？宿舍有空调吗？", session="web-1")
    assert [(r.text, r.outcome, r.channel) for r in storage.questions()] == [
        ("学费多少？", "answered", "api"),
        ("宿舍有空调吗？", "declined", "api"),
    ]


@pytest.mark.parametrize(("question", "entry_id", "lang"), ANSWERED)
def test_an_entry_answer_is_matched_and_names_its_entry(
    client: FlaskClient, corpus_brain: Brain, question: str, entry_id: str, lang: str
) -> None:
    reply = ask_ok(client, question)

    assert reply["matched"] is True
    assert reply["faq_id"] == entry_id
    assert reply["answer"] == entry_answer(corpus_brain, entry_id, lang)


@pytest.mark.parametrize(("question", "entry_id", "lang"), ANSWERED)
def test_the_answer_is_in_the_asker_language(
    client: FlaskClient, question: str, entry_id: str, lang: str
) -> None:
    assert ask_ok(client, question)["lang"] == lang


@pytest.mark.parametrize("question", SMALL_TALK + SUGGESTING + DECLINED)
def test_anything_but_an_entry_answer_is_not_matched(client: FlaskClient, question: str) -> None:
    reply = ask_ok(client, question)

    assert reply["matched"] is False
    assert reply["faq_id"] is None


@pytest.mark.parametrize("question", SUGGESTING)
def test_did_you_mean_lists_numbered_suggestions(client: FlaskClient, question: str) -> None:
    reply = ask_ok(client, question)

    assert 1 <= len(reply["suggestions"]) <= 3
    for number, suggestion in enumerate(reply["suggestions"], 1):
        assert f"{number}. {suggestion['question']}" in reply["answer"]


@pytest.mark.parametrize("number", [1, 2])
def test_a_suggestion_number_answers_that_suggestion(client: FlaskClient, number: int) -> None:
    offered = ask_ok(client, "英语", session="applicant-1")["suggestions"]

    reply = ask_ok(client, str(number), session="applicant-1")

    assert reply["matched"] is True
    assert reply["faq_id"] == offered[number - 1]["id"]
    assert reply["lang"] == "zh"


@pytest.mark.parametrize("question", ["菜单", "menu"])
def test_the_menu_lists_entries_whose_numbers_answer_them(client: FlaskClient, question: str) -> None:
    menu = ask_ok(client, question, session="applicant-2")["suggestions"]

    reply = ask_ok(client, "2", session="applicant-2")

    assert len(menu) >= 2
    assert reply["faq_id"] == menu[1]["id"]


@pytest.mark.parametrize(
    ("first", "follow_up", "province"),
    [
        ("重庆招多少人", "那四川呢？", "四川"),
        ("How many places in Chongqing?", "what about Sichuan?", "Sichuan"),
    ],
)
def test_a_session_carries_a_follow_up_to_the_previous_topic(
    client: FlaskClient, first: str, follow_up: str, province: str
) -> None:
    ask_ok(client, first, session="parent-7")

    reply = ask_ok(client, follow_up, session="parent-7")

    assert reply["matched"] is True
    assert reply["faq_id"] == "province-quota"
    assert province in reply["answer"] and "30" in reply["answer"]


def test_without_a_session_a_number_picks_nothing(client: FlaskClient) -> None:
    ask_ok(client, "英语")

    assert ask_ok(client, "1")["matched"] is False


def test_sessions_do_not_share_context(client: FlaskClient) -> None:
    ask_ok(client, "英语", session="parent-8")

    assert ask_ok(client, "1", session="parent-9")["matched"] is False


# --- refused requests -------------------------------------------------------------------------------------


def assert_json_error(response: TestResponse, status: int) -> None:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert isinstance(body["error"], str) and body["error"].strip()


@pytest.mark.parametrize(
    "data",
    [
        b"{not json",
        b'{"question": "unterminated',
        b"\xff\xfe{\x00}\x00",
        b"[1, 2]",
        b'"\\u5b66\\u8d39"',
        b"null",
        b"42",
        b"{}",
        b'{"question": ""}',
        b'{"question": "   \\n\\t"}',
        b'{"question": null}',
        b'{"question": 5}',
        b'{"question": true}',
        b'{"question": ["\\u5b66\\u8d39"]}',
        b'{"question": {"text": "fees"}}',
        b'{"question": "fees", "lang": "fr"}',
        b'{"question": "fees", "lang": "english"}',
        b'{"question": "fees", "lang": 1}',
        b'{"question": "fees", "session": 5}',
        b'{"question": "fees", "session": ["a"]}',
        b'{"question": "\\ud800fees"}',
        b'{"question": "fees", "session": "\\udfff"}',
    ],
)
def test_a_malformed_request_is_a_400_with_a_json_error(client: FlaskClient, data: bytes) -> None:
    response = client.post("/api/ask", data=data, content_type="application/json")

    assert_json_error(response, 400)


def test_an_empty_body_is_a_400_with_a_json_error(client: FlaskClient) -> None:
    assert_json_error(client.post("/api/ask"), 400)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ('{"question": "fees"}', "text/plain"),
        ("question=fees", "application/x-www-form-urlencoded"),
        ("<question>fees</question>", "application/xml"),
    ],
)
def test_a_body_that_is_not_declared_json_is_a_415(client: FlaskClient, data: str, content_type: str) -> None:
    response = client.post("/api/ask", data=data, content_type=content_type)

    assert_json_error(response, 415)


def test_a_question_over_the_limit_is_a_400(client: FlaskClient, api_config: Config) -> None:
    response = ask(client, "学" * (api_config.server.max_question_chars + 1))

    assert_json_error(response, 400)


def test_a_question_at_the_limit_is_answered(client: FlaskClient, api_config: Config) -> None:
    question = "学费多少" + "？" * (api_config.server.max_question_chars - 4)

    assert ask_ok(client, question)["faq_id"] == "tuition-fee"


def body_of_size(size: int) -> bytes:
    """A JSON question padded with whitespace to exactly `size` bytes."""
    body = b'{"question": "fees"}'
    return body[:-1] + b" " * (size - len(body)) + b"}"


@pytest.mark.parametrize("limit", [None, 2048])
def test_a_body_over_the_server_limit_is_a_413(
    api_config: Config, corpus_brain: Brain, storage: MemoryStorage, clock: SettableClock, limit: int | None
) -> None:
    config = api_config if limit is None else app_config(env={}, max_body_bytes=limit)
    client = make_app(config, corpus_brain, storage, clock).test_client()

    response = client.post(
        "/api/ask", data=body_of_size(config.server.max_body_bytes + 1), content_type="application/json"
    )

    assert_json_error(response, 413)


@pytest.mark.parametrize("limit", [None, 2048])
def test_a_body_at_the_server_limit_is_answered(
    api_config: Config, corpus_brain: Brain, storage: MemoryStorage, clock: SettableClock, limit: int | None
) -> None:
    config = api_config if limit is None else app_config(env={}, max_body_bytes=limit)
    client = make_app(config, corpus_brain, storage, clock).test_client()

    response = client.post(
        "/api/ask", data=body_of_size(config.server.max_body_bytes), content_type="application/json"
    )

    assert response.status_code == 200


# --- rate limit -------------------------------------------------------------------------------------------


def use_up_the_minute(client: FlaskClient, config: Config, session: str) -> None:
    for _ in range(config.server.rate_limit_per_minute):
        assert ask(client, "fees", session=session).status_code == 200


def test_questions_over_the_rate_limit_are_a_429(client: FlaskClient, api_config: Config) -> None:
    use_up_the_minute(client, api_config, "busy")

    assert_json_error(ask(client, "fees", session="busy"), 429)


def test_the_rate_limit_is_per_session(client: FlaskClient, api_config: Config) -> None:
    use_up_the_minute(client, api_config, "busy")

    assert ask(client, "fees", session="calm").status_code == 200


def test_the_rate_limit_lifts_after_a_minute(
    client: FlaskClient, api_config: Config, clock: SettableClock
) -> None:
    use_up_the_minute(client, api_config, "busy")
    clock.advance(61)

    assert ask(client, "fees", session="busy").status_code == 200


def test_a_refused_question_is_not_logged(
    client: FlaskClient, api_config: Config, storage: MemoryStorage
) -> None:
    use_up_the_minute(client, api_config, "busy")

    ask(client, "fees", session="busy")

    assert len(storage.questions()) == api_config.server.rate_limit_per_minute


# --- health and the chat page -----------------------------------------------------------------------------


def test_public_healthz_says_only_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_with_the_admin_token_reports_the_corpus_and_storage(tmp_path: Path) -> None:
    config = app_config(env={"FAQBOT_ADMIN_TOKEN": ADMIN_TOKEN}, corpus_dir=MINI_CORPUS)
    storage = SQLiteStorage(tmp_path / "faqbot.db")
    client = create_app(config, storage=storage).test_client()

    health = client.get("/healthz", headers=RIGHT).get_json()

    assert health["status"] == "ok"
    assert health["corpus_loaded"] is True
    assert health["entries"] == len(load_corpus(MINI_CORPUS).entries)
    assert isinstance(health["corpus_loaded_at"], int | float)
    assert health["last_reload_error"] is None
    assert (health["storage"], health["storage_ok"]) == ("sqlite", True)
    storage.close()


EXTERNAL_URL = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)


def test_the_chat_page_is_served_without_external_urls(client: FlaskClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    response.close()
    assert EXTERNAL_URL.search(page) is None
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert assets
    for asset in assets:
        served = client.get(asset)
        text = served.get_data(as_text=True)
        served.close()
        assert served.status_code == 200
        assert EXTERNAL_URL.search(text) is None


# --- admin ------------------------------------------------------------------------------------------------

ADMIN_ENDPOINTS = [("POST", "/admin/reload"), ("GET", "/admin/stats")]
RIGHT = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def tmp_corpus(tmp_path: Path) -> Path:
    """A writable copy of the small test corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(MINI_CORPUS, target)
    return target


@pytest.fixture(scope="module")
def mini_brain() -> Brain:
    """The engine over the small test corpus, built once for the module."""
    return build_brain(app_config(env={}, corpus_dir=MINI_CORPUS))


@pytest.fixture
def admin_client(
    tmp_corpus: Path, mini_brain: Brain, storage: MemoryStorage, clock: SettableClock
) -> FlaskClient:
    """The app with admin on, serving the copy of the small corpus (identical to `mini_brain`'s)."""
    config = app_config(env={"FAQBOT_ADMIN_TOKEN": ADMIN_TOKEN}, corpus_dir=tmp_corpus)
    return make_app(config, mini_brain, storage, clock).test_client()


@pytest.mark.parametrize(("method", "path"), ADMIN_ENDPOINTS)
def test_admin_endpoints_are_off_without_a_configured_token(
    client: FlaskClient, method: str, path: str
) -> None:
    response = client.open(path, method=method, headers={"Authorization": "Bearer "})

    assert_json_error(response, 404)


@pytest.mark.parametrize(("method", "path"), ADMIN_ENDPOINTS)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"},
        {"Authorization": ADMIN_TOKEN},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": "Bearer "},
    ],
    ids=["none", "wrong", "longer", "shorter", "no-scheme", "basic", "empty"],
)
def test_admin_endpoints_refuse_a_wrong_token(
    admin_client: FlaskClient, method: str, path: str, headers: dict
) -> None:
    assert_json_error(admin_client.open(path, method=method, headers=headers), 401)


@pytest.mark.parametrize(("method", "path"), ADMIN_ENDPOINTS)
def test_admin_endpoints_accept_the_right_token(admin_client: FlaskClient, method: str, path: str) -> None:
    response = admin_client.open(path, method=method, headers=RIGHT)

    assert response.status_code == 200
    assert response.mimetype == "application/json"


NEW_ENTRY = """
- id: admissions-total
  category: admissions
  question: {en: "How many students are admitted each year?", zh: "每年招收多少名学生？"}
  alternates:
    en:
      - how many students per year
      - yearly intake
      - annual intake
      - total places
      - how many freshmen
      - intake size
      - how many students are admitted
      - total admissions
    zh: [每年招多少学生, 一年招几个人, 招生总人数, 总共招多少人, 每年招生人数, 招生规模, 一共招几个, 年招生数]
  answer: {en: "115 students are admitted each year through the Gaokao.", zh: "每年通过高考招收115名学生。"}
  source: test
"""


def test_reload_swaps_in_a_changed_corpus(admin_client: FlaskClient, tmp_corpus: Path) -> None:
    assert ask_ok(admin_client, "招生规模")["faq_id"] != "admissions-total"
    with (tmp_corpus / "entries.yaml").open("a", encoding="utf-8") as entries:
        entries.write(NEW_ENTRY)

    response = admin_client.post("/admin/reload", headers=RIGHT)

    assert response.status_code == 200
    assert response.get_json()["reloaded"] is True
    reply = ask_ok(admin_client, "招生规模")
    assert (reply["faq_id"], reply["answer"]) == ("admissions-total", "每年通过高考招收115名学生。")
    health = admin_client.get("/healthz", headers=RIGHT).get_json()
    assert health["entries"] == len(load_corpus(MINI_CORPUS).entries) + 1


def break_entries(tmp_corpus: Path) -> int:
    """Append a line that is not valid YAML to entries.yaml; return its line number."""
    path = tmp_corpus / "entries.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines, "- id: admissions-total", "  category: admissions: total", ""]))
    return len(lines) + 2


def test_reload_of_a_broken_file_keeps_the_old_corpus_serving(
    admin_client: FlaskClient, tmp_corpus: Path
) -> None:
    break_entries(tmp_corpus)

    response = admin_client.post("/admin/reload", headers=RIGHT)

    assert 400 <= response.status_code < 500
    reply = ask_ok(admin_client, "学费多少")
    assert (reply["matched"], reply["faq_id"]) == (True, "tuition-fee")


def test_reload_of_a_broken_file_names_the_file_and_line(admin_client: FlaskClient, tmp_corpus: Path) -> None:
    line = break_entries(tmp_corpus)

    response = admin_client.post("/admin/reload", headers=RIGHT)

    assert_json_error(response, response.status_code)
    assert f"entries.yaml:{line}" in response.get_json()["error"]


def test_healthz_shows_the_last_reload_error_until_a_good_reload(
    admin_client: FlaskClient, tmp_corpus: Path
) -> None:
    original = (tmp_corpus / "entries.yaml").read_text(encoding="utf-8")
    line = break_entries(tmp_corpus)
    admin_client.post("/admin/reload", headers=RIGHT)
    broken = admin_client.get("/healthz", headers=RIGHT).get_json()
    (tmp_corpus / "entries.yaml").write_text(original, encoding="utf-8")
    admin_client.post("/admin/reload", headers=RIGHT)
    repaired = admin_client.get("/healthz", headers=RIGHT).get_json()

    assert broken["status"] == "degraded"
    assert f"entries.yaml:{line}" in broken["last_reload_error"]
    assert (repaired["status"], repaired["last_reload_error"]) == ("ok", None)


def test_stats_count_questions_by_outcome_entry_language_and_channel(admin_client: FlaskClient) -> None:
    for question in ("学费多少", "How much is the tuition fee?", "hello", "签证怎么办"):
        ask_ok(admin_client, question)
    admin_client.post("/api/ask", json={"question": "电话"}, headers={"X-Faqbot-Channel": "web"})

    stats = admin_client.get("/admin/stats", headers=RIGHT).get_json()

    assert stats["questions"] == 5
    assert stats["outcomes"] == {"answered": 3, "suggested": 0, "declined": 1, "smalltalk": 1}
    assert stats["per_entry"] == {"tuition-fee": 2, "contact-phone": 1}
    assert stats["per_language"] == {"zh": 3, "en": 2}
    assert stats["per_channel"] == {"api": 4, "web": 1}
    assert stats["per_day"] == {"2023-11-14": 5}
    assert stats["rates"]["answered"] == pytest.approx(0.6)


@pytest.mark.parametrize(("since", "count"), [("2023-11-14", 1), ("2023-11-15", 0)])
def test_stats_since_a_date_count_only_later_questions(
    admin_client: FlaskClient, since: str, count: int
) -> None:
    ask_ok(admin_client, "学费多少")

    stats = admin_client.get(f"/admin/stats?since={since}", headers=RIGHT).get_json()

    assert stats["questions"] == count


def test_stats_with_a_bad_date_is_a_400(admin_client: FlaskClient) -> None:
    assert_json_error(admin_client.get("/admin/stats?since=yesterday", headers=RIGHT), 400)
