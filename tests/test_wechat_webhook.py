"""The /wechat endpoint of the real app, driven by wechatpy playing WeChat's servers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from app_helpers import (
    ACCOUNT,
    MINI_CORPUS,
    OTHER_APP_ID,
    STUDENT,
    SettableClock,
    WeChatPeer,
    app_config,
    dialogue_menu,
    dialogue_text,
    event_xml,
    make_app,
    message_xml,
    text_xml,
    wechat_signature,
    with_wechat,
)
from flask.testing import FlaskClient

from bot.config import Config
from bot.corpus import load_corpus
from bot.dialogue import Dialogue
from bot.engine import Brain, build_brain
from bot.matcher import Matcher
from bot.storage import MemoryStorage, SQLiteStorage, Storage, StorageError
from server import create_app

MODES = ("plain", "safe")
MAX_REPLY_BYTES = 2047
ECHOSTR = "5837397520665436492"
TUITION_QUESTIONS = [("学费多少", "zh"), ("How much is the tuition fee?", "en")]


@pytest.fixture(scope="module")
def wechat_config() -> Config:
    return app_config()


@pytest.fixture(scope="module")
def corpus_brain(wechat_config: Config) -> Brain:
    """The engine over the real corpus, built once for the module."""
    return build_brain(wechat_config)


def peer_for(config: Config, brain: Brain, storage: Storage, clock: SettableClock) -> WeChatPeer:
    return WeChatPeer(make_app(config, brain, storage, clock).test_client(), clock)


@pytest.fixture
def peer(
    wechat_config: Config, corpus_brain: Brain, storage: MemoryStorage, clock: SettableClock
) -> WeChatPeer:
    return peer_for(wechat_config, corpus_brain, storage, clock)


def answer_of(brain: Brain, entry_id: str, lang: str) -> str:
    return brain.corpus.by_id()[entry_id].answer[lang]


# --- server verification (GET) ----------------------------------------------------------------------------


def test_verification_with_a_good_signature_returns_echostr(peer: WeChatPeer) -> None:
    response = peer.verify({**peer.query(), "echostr": ECHOSTR})

    assert response.status_code == 200
    assert response.get_data(as_text=True) == ECHOSTR


@pytest.mark.parametrize(
    "change",
    [
        {"signature": None},
        {"signature": ""},
        {"signature": "0" * 40},
        {"signature": wechat_signature("another-token", "1700000000", "1320562132")},
        {"nonce": "999"},
        {"nonce": None},
    ],
    ids=["missing", "empty", "zeros", "other-token", "nonce-changed", "nonce-missing"],
)
def test_verification_with_a_bad_or_missing_signature_is_forbidden(peer: WeChatPeer, change: dict) -> None:
    query = {**peer.query(), "echostr": ECHOSTR, **change}
    response = peer.verify({name: value for name, value in query.items() if value is not None})

    assert response.status_code == 403
    assert ECHOSTR not in response.get_data(as_text=True)


@pytest.mark.parametrize("offset", [-600, -301, 301, 3600])
def test_verification_with_a_stale_timestamp_is_forbidden(peer: WeChatPeer, offset: int) -> None:
    query = peer.query(timestamp=str(int(peer.clock()) + offset))

    response = peer.verify({**query, "echostr": ECHOSTR})

    assert response.status_code == 403
    assert ECHOSTR not in response.get_data(as_text=True)


@pytest.mark.parametrize("offset", [-300, 300])
def test_verification_accepts_a_timestamp_within_the_allowed_skew(peer: WeChatPeer, offset: int) -> None:
    query = peer.query(timestamp=str(int(peer.clock()) + offset))

    assert peer.verify({**query, "echostr": ECHOSTR}).get_data(as_text=True) == ECHOSTR


# --- text messages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("question", "lang"), TUITION_QUESTIONS)
def test_text_message_gets_the_answer_in_the_asker_language(
    peer: WeChatPeer, corpus_brain: Brain, mode: str, question: str, lang: str
) -> None:
    reply = peer.ask(mode, text_xml(question))

    assert reply["MsgType"] == "text"
    assert reply["Content"] == answer_of(corpus_brain, "tuition-fee", lang)


@pytest.mark.parametrize("mode", MODES)
def test_reply_is_addressed_back_to_the_sender_from_the_account(peer: WeChatPeer, mode: str) -> None:
    reply = peer.ask(mode, text_xml("学费多少"))

    assert reply["ToUserName"] == STUDENT
    assert reply["FromUserName"] == ACCOUNT
    assert reply["CreateTime"] == str(int(peer.clock()))


@pytest.mark.parametrize("mode", MODES)
def test_reply_content_type_is_xml_in_utf8(peer: WeChatPeer, mode: str) -> None:
    response = peer.post(mode, text_xml("学费多少"))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"


def test_safe_mode_reply_is_only_the_signed_envelope(peer: WeChatPeer) -> None:
    response = peer.post_safe(text_xml("学费多少"))

    body = response.get_data(as_text=True)
    assert "62000" not in body and "<Content>" not in body
    assert set(peer.open_reply(response)) >= {
        "ToUserName",
        "FromUserName",
        "CreateTime",
        "MsgType",
        "Content",
    }


# --- refused deliveries -----------------------------------------------------------------------------------


def assert_refused_quietly(response, status: int, storage: MemoryStorage) -> None:
    """A refusal carries no reply XML and leaves no trace in the question log."""
    assert response.status_code == status
    assert response.mimetype == "text/plain"
    assert "<xml" not in response.get_data(as_text=True)
    assert storage.questions() == []


@pytest.mark.parametrize(
    "change",
    [
        {"signature": None},
        {"signature": "0" * 40},
        {"signature": wechat_signature("another-token", "1700000000", "1320562132")},
    ],
    ids=["missing", "zeros", "other-token"],
)
def test_plain_delivery_with_a_bad_or_missing_signature_is_forbidden(
    peer: WeChatPeer, storage: MemoryStorage, change: dict
) -> None:
    query = {name: value for name, value in {**peer.query(), **change}.items() if value is not None}

    response = peer.post_plain(text_xml("学费多少"), query=query)

    assert_refused_quietly(response, 403, storage)


@pytest.mark.parametrize(
    "change",
    [
        {"signature": None},
        {"signature": "0" * 40},
        {"msg_signature": None},
        {"msg_signature": ""},
        {"msg_signature": "0" * 40},
        {"msg_signature": wechat_signature("another-token", "1700000000", "1320562132", "AAAA")},
    ],
    ids=["signature-missing", "signature-zeros", "msg-missing", "msg-empty", "msg-zeros", "msg-other"],
)
def test_safe_delivery_with_a_bad_or_missing_signature_is_forbidden(
    peer: WeChatPeer, storage: MemoryStorage, change: dict
) -> None:
    response = peer.post_safe(text_xml("学费多少"), query_changes=change)

    assert_refused_quietly(response, 403, storage)


@pytest.mark.parametrize("mode", MODES)
def test_replay_of_a_delivery_ten_minutes_old_is_forbidden(
    peer: WeChatPeer, storage: MemoryStorage, mode: str
) -> None:
    old = str(int(peer.clock()) - 600)
    if mode == "plain":
        response = peer.post_plain(text_xml("学费多少"), query=peer.query(timestamp=old))
    else:
        response = peer.post_safe(text_xml("学费多少"), timestamp=old)

    assert_refused_quietly(response, 403, storage)


def test_message_encrypted_for_another_appid_is_refused(peer: WeChatPeer, storage: MemoryStorage) -> None:
    response = peer.post_safe(text_xml("学费多少"), app_id=OTHER_APP_ID)

    assert_refused_quietly(response, 400, storage)


def test_encrypted_delivery_without_a_configured_aes_key_is_refused(
    wechat_config: Config, corpus_brain: Brain, storage: MemoryStorage, clock: SettableClock
) -> None:
    plain_only = with_wechat(wechat_config, aes_key="", app_id="", mode="")
    peer = peer_for(plain_only, corpus_brain, storage, clock)

    assert_refused_quietly(peer.post_safe(text_xml("学费多少")), 400, storage)


def test_unknown_encrypt_type_is_refused(peer: WeChatPeer, storage: MemoryStorage) -> None:
    response = peer.post_safe(text_xml("学费多少"), query_changes={"encrypt_type": "rsa"})

    assert_refused_quietly(response, 400, storage)


# --- voice, media, events ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_voice_with_recognition_is_answered_as_text(peer: WeChatPeer, corpus_brain: Brain, mode: str) -> None:
    voice = message_xml(
        "voice", msg_id="24309175000000002", MediaId="m1", Format="amr", Recognition="学费多少"
    )

    reply = peer.ask(mode, voice)

    assert reply["MsgType"] == "text"
    assert reply["Content"] == answer_of(corpus_brain, "tuition-fee", "zh")


@pytest.mark.parametrize("recognition", [None, "", "   "])
def test_voice_without_recognition_asks_to_type(
    peer: WeChatPeer, wechat_config: Config, recognition: str | None
) -> None:
    extra = {} if recognition is None else {"Recognition": recognition}
    voice = message_xml("voice", msg_id="24309175000000003", MediaId="m1", Format="amr", **extra)

    reply = peer.ask("plain", voice)

    assert reply["Content"] == dialogue_text("voice_unrecognised", "zh", wechat_config)


@pytest.mark.parametrize(
    ("msg_type", "fields"),
    [
        ("image", {"PicUrl": "https://mmbiz.qpic.cn/x.jpg", "MediaId": "m2"}),
        ("video", {"MediaId": "m3", "ThumbMediaId": "t3"}),
        ("shortvideo", {"MediaId": "m4", "ThumbMediaId": "t4"}),
        ("location", {"Location_X": "29.53", "Location_Y": "106.52", "Scale": "15", "Label": "重庆"}),
        ("link", {"Title": "招生简章", "Description": "d", "Url": "https://example.org/a"}),
    ],
)
def test_media_messages_get_the_polite_text_only_reply(
    peer: WeChatPeer, wechat_config: Config, msg_type: str, fields: dict
) -> None:
    reply = peer.ask("plain", message_xml(msg_type, msg_id="24309175000000004", **fields))

    assert reply["MsgType"] == "text"
    assert reply["Content"] == dialogue_text("unsupported", "zh", wechat_config)


@pytest.mark.parametrize("mode", MODES)
def test_subscribe_gets_the_welcome_and_a_numbered_menu(
    peer: WeChatPeer, wechat_config: Config, corpus_brain: Brain, mode: str
) -> None:
    entries = corpus_brain.corpus.by_id()
    menu = dialogue_menu(wechat_config)

    lines = peer.ask(mode, event_xml("subscribe"))["Content"].split("\n")

    assert lines[0] == dialogue_text("welcome", "zh", wechat_config)
    assert lines[1:] == [f"{n}. {entries[entry_id].question['zh']}" for n, entry_id in enumerate(menu, 1)]


@pytest.mark.parametrize("number", [1, 3])
def test_a_menu_number_after_subscribing_answers_that_entry(
    peer: WeChatPeer, wechat_config: Config, corpus_brain: Brain, number: int
) -> None:
    peer.ask("plain", event_xml("subscribe"))

    reply = peer.ask("plain", text_xml(str(number)))

    entry_id = dialogue_menu(wechat_config)[number - 1]
    assert reply["Content"] in {answer_of(corpus_brain, entry_id, lang) for lang in ("zh", "en")}


@pytest.mark.parametrize("number", [1, 3])
def test_a_menu_number_after_subscribing_is_answered_in_the_menu_language(
    peer: WeChatPeer, wechat_config: Config, corpus_brain: Brain, number: int
) -> None:
    peer.ask("plain", event_xml("subscribe"))

    reply = peer.ask("plain", text_xml(str(number)))

    entry_id = dialogue_menu(wechat_config)[number - 1]
    assert reply["Content"] == answer_of(corpus_brain, entry_id, "zh")


@pytest.mark.parametrize("mode", MODES)
def test_unsubscribe_gets_success(peer: WeChatPeer, mode: str) -> None:
    response = peer.post(mode, event_xml("unsubscribe"))

    assert response.status_code == 200
    assert response.data == b"success"


@pytest.mark.parametrize(("key", "entry_id"), list(app_config().wechat.menu_keys.items()))
def test_click_on_a_configured_menu_key_answers_its_entry(
    peer: WeChatPeer, corpus_brain: Brain, key: str, entry_id: str
) -> None:
    reply = peer.ask("plain", event_xml("CLICK", key))

    assert reply["Content"] == answer_of(corpus_brain, entry_id, "zh")


@pytest.mark.parametrize(
    "body",
    [
        event_xml("CLICK", "NO_SUCH_KEY"),
        event_xml("CLICK"),
        event_xml("VIEW", "https://example.org/page"),
        event_xml("SCAN", "123"),
        event_xml("LOCATION", Latitude="29.5", Longitude="106.5", Precision="65"),
        event_xml("a_future_event"),
        message_xml("miniprogrampage", msg_id="24309175000000005", Title="t"),
        message_xml("a_future_type", msg_id="24309175000000006"),
    ],
    ids=[
        "click-unknown",
        "click-no-key",
        "view",
        "scan",
        "location",
        "future-event",
        "miniprogram",
        "future",
    ],
)
def test_unknown_or_silent_events_and_types_get_success(peer: WeChatPeer, body: str) -> None:
    response = peer.post("plain", body)

    assert response.status_code == 200
    assert response.data == b"success"


@pytest.mark.parametrize(("word", "lang"), [("人工", "zh"), ("human", "en")])
def test_asking_for_a_human_gives_the_contacts_when_transfer_is_off(
    peer: WeChatPeer, wechat_config: Config, word: str, lang: str
) -> None:
    reply = peer.ask("plain", text_xml(word))

    assert reply["MsgType"] == "text"
    assert reply["Content"] == dialogue_text("human", lang, wechat_config)
    assert wechat_config.dialogue.contact_phone in reply["Content"]
    assert wechat_config.dialogue.contact_email in reply["Content"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("word", ["人工", "human"])
def test_asking_for_a_human_transfers_to_customer_service_when_enabled(
    wechat_config: Config,
    corpus_brain: Brain,
    storage: MemoryStorage,
    clock: SettableClock,
    mode: str,
    word: str,
) -> None:
    peer = peer_for(with_wechat(wechat_config, transfer_to_human=True), corpus_brain, storage, clock)

    reply = peer.ask(mode, text_xml(word))

    assert reply["MsgType"] == "transfer_customer_service"
    assert reply["ToUserName"] == STUDENT and reply["FromUserName"] == ACCOUNT
    assert "Content" not in reply


# --- retries ----------------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def any_storage(request: pytest.FixtureRequest, tmp_path: Path, clock: SettableClock):
    """Each storage backend a single machine can run on."""
    if request.param == "memory":
        yield MemoryStorage(clock=clock)
        return
    sqlite = SQLiteStorage(tmp_path / "faqbot.db", clock=clock)
    yield sqlite
    sqlite.close()


def test_a_retried_message_gets_the_same_reply_and_is_counted_once(
    wechat_config: Config, corpus_brain: Brain, any_storage: Storage, clock: SettableClock
) -> None:
    peer = peer_for(wechat_config, corpus_brain, any_storage, clock)
    bodies = []
    for _ in range(3):  # WeChat retries an unanswered delivery twice, five seconds apart
        response = peer.post_plain(text_xml("学费多少", msg_id="24309175000000010"))
        assert response.status_code == 200
        bodies.append(response.data)
        clock.advance(5)

    assert bodies[0] == bodies[1] == bodies[2]
    assert [record.text for record in any_storage.questions()] == ["学费多少"]


def test_a_retried_safe_mode_message_decrypts_to_the_same_reply(
    peer: WeChatPeer, storage: MemoryStorage, clock: SettableClock
) -> None:
    replies = []
    for _ in range(3):
        replies.append(peer.ask("safe", text_xml("学费多少", msg_id="24309175000000011")))
        clock.advance(5)

    assert replies[0] == replies[1] == replies[2]
    assert len(storage.questions()) == 1


def test_messages_with_different_msgids_are_each_answered(peer: WeChatPeer, storage: MemoryStorage) -> None:
    peer.ask("plain", text_xml("学费多少", msg_id="24309175000000012"))
    peer.ask("plain", text_xml("学费多少", msg_id="24309175000000013"))

    assert len(storage.questions()) == 2


def test_a_retried_event_gets_the_same_reply(peer: WeChatPeer, clock: SettableClock) -> None:
    bodies = []
    for _ in range(3):
        bodies.append(peer.post_plain(event_xml("subscribe", create_time=1_699_999_990)).data)
        clock.advance(5)

    assert bodies[0] == bodies[1] == bodies[2]


@pytest.mark.parametrize(
    "second",
    [{"create_time": 1_699_999_991}, {"from_user": "oAnotherStudent"}],
    ids=["later-create-time", "other-sender"],
)
def test_events_differing_in_sender_or_create_time_are_answered_afresh(
    peer: WeChatPeer, clock: SettableClock, second: dict
) -> None:
    first = peer.ask("plain", event_xml("subscribe", create_time=1_699_999_990))
    clock.advance(5)

    again = peer.ask("plain", event_xml("subscribe", **{"create_time": 1_699_999_990, **second}))

    assert again["CreateTime"] == str(int(clock())) != first["CreateTime"]


# --- several questions, emoticons, messages without words ------------------------------------------------

FOUR_QUESTIONS = (
    "What is the tuition fee? What is the English requirement? How long is the programme? How do I apply?"
)
FOUR_ANSWERS = ["tuition-fee", "english-requirement", "duration", "how-to-apply"]


def test_several_questions_are_answered_in_parts_that_fit_with_more_for_the_rest(
    peer: WeChatPeer, corpus_brain: Brain, wechat_config: Config
) -> None:
    hint = "\n" + dialogue_text("more_hint", "en", wechat_config)
    nothing_more = dialogue_text("nothing_more", "en", wechat_config)
    parts = [peer.ask("plain", text_xml(FOUR_QUESTIONS, msg_id="24309175000000300"))["Content"]]
    for n in range(1, 10):
        part = peer.ask("plain", text_xml("more", msg_id=f"2430917500000030{n}"))["Content"]
        if part == nothing_more:
            break
        parts.append(part)

    assert len(parts) >= 2
    assert all(len(part.encode("utf-8")) <= MAX_REPLY_BYTES for part in parts)
    assert [part.endswith(hint) for part in parts] == [True] * (len(parts) - 1) + [False]
    for entry_id in FOUR_ANSWERS:
        assert any(answer_of(corpus_brain, entry_id, "en") in part for part in parts)


def test_each_question_of_a_wechat_message_is_logged(peer: WeChatPeer, storage: MemoryStorage) -> None:
    peer.ask("safe", text_xml("学费多少？宿舍有空调吗？"))

    assert [(r.text, r.outcome, r.channel) for r in storage.questions()] == [
        ("学费多少？", "answered", "wechat"),
        ("宿舍有空调吗？", "declined", "wechat"),
    ]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("emoticons", ["[微笑]", "[憨笑]", "[捂脸][捂脸]", "/::)", "/::D", "[Smile]"])
def test_emoticons_alone_get_a_friendly_word_and_the_menu_in_chinese(
    peer: WeChatPeer, wechat_config: Config, storage: MemoryStorage, mode: str, emoticons: str
) -> None:
    reply = peer.ask(mode, text_xml(emoticons))["Content"]

    lines = reply.splitlines()
    assert lines[0] == dialogue_text("emoticon", "zh", wechat_config)
    assert len(lines) == 1 + len(dialogue_menu(wechat_config))
    assert storage.questions(outcome="declined") == []


@pytest.mark.parametrize("wordless", ["。", "？？？", "...", "!"])
def test_a_first_message_of_punctuation_gets_the_menu_in_chinese(
    peer: WeChatPeer, wechat_config: Config, wordless: str
) -> None:
    reply = peer.ask("plain", text_xml(wordless))["Content"]

    assert reply.splitlines()[0] == dialogue_text("help", "zh", wechat_config)


@pytest.mark.parametrize(("wordless", "intro"), [("？？？", "help"), ("[微笑]", "emoticon")])
def test_a_message_without_words_gets_the_menu_in_the_language_of_the_conversation(
    peer: WeChatPeer, wechat_config: Config, wordless: str, intro: str
) -> None:
    peer.ask("plain", text_xml("How much is the tuition fee?", msg_id="24309175000000400"))

    reply = peer.ask("plain", text_xml(wordless, msg_id="24309175000000401"))["Content"]

    assert reply.splitlines()[0] == dialogue_text(intro, "en", wechat_config)


@pytest.mark.parametrize(
    ("message", "entry_id"), [("学费多少[疑问]", "tuition-fee"), ("/::)学费多少", "tuition-fee")]
)
def test_a_question_with_emoticons_is_answered(
    peer: WeChatPeer, corpus_brain: Brain, message: str, entry_id: str
) -> None:
    assert peer.ask("plain", text_xml(message))["Content"] == answer_of(corpus_brain, entry_id, "zh")


def test_thanks_with_an_emoticon_is_thanks(peer: WeChatPeer, wechat_config: Config) -> None:
    assert peer.ask("plain", text_xml("谢谢[抱拳]"))["Content"] == dialogue_text(
        "thanks", "zh", wechat_config
    )


# --- long answers -----------------------------------------------------------------------------------------

LONG_ANSWERS = {
    "zh": "".join(f"第{n}段：学费标准为每年62000元。" for n in range(1, 150)),
    "en": " ".join(f"Part {n}: the tuition fee is RMB 62,000 per year." for n in range(1, 150)),
}
CONTINUE = {"zh": ("学费多少", "继续"), "en": ("How much is the tuition fee?", "more")}


@pytest.fixture(scope="module")
def long_answer_brain() -> Brain:
    """The small corpus with a tuition answer four WeChat replies long.

    The corpus validator caps answers at 2,000 bytes, below WeChat's 2,047, so a corpus file cannot hold an
    answer this long; the entry is swapped in after loading to exercise the channel's splitting.
    """
    config = app_config(corpus_dir=MINI_CORPUS)
    base = build_brain(config)
    long_entry = replace(base.corpus.by_id()["tuition-fee"], answer=LONG_ANSWERS)
    corpus = replace(
        base.corpus, entries=tuple(long_entry if e.id == long_entry.id else e for e in base.corpus.entries)
    )
    matcher = Matcher(corpus, config.match)
    dialogue = Dialogue(matcher, base.dialogue.texts, base.dialogue.normaliser)
    return replace(base, corpus=corpus, matcher=matcher, dialogue=dialogue)


@pytest.fixture
def long_peer(long_answer_brain: Brain, storage: MemoryStorage, clock: SettableClock) -> WeChatPeer:
    return peer_for(app_config(corpus_dir=MINI_CORPUS), long_answer_brain, storage, clock)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_long_answer_starts_with_a_part_that_fits_and_says_how_to_get_the_rest(
    long_peer: WeChatPeer, lang: str
) -> None:
    question, _ = CONTINUE[lang]

    first = long_peer.ask("plain", text_xml(question))["Content"]

    assert len(first.encode("utf-8")) <= MAX_REPLY_BYTES
    assert first.endswith("\n" + dialogue_text("more_hint", lang, app_config(corpus_dir=MINI_CORPUS)))


def read_all_parts(peer: WeChatPeer, lang: str) -> list[str]:
    """The replies to the question and to each "继续"/"more" until the bot says the answer is over."""
    question, more = CONTINUE[lang]
    nothing_more = dialogue_text("nothing_more", lang, app_config(corpus_dir=MINI_CORPUS))
    parts = [peer.ask("plain", text_xml(question, msg_id="24309175000000200"))["Content"]]
    for n in range(1, 10):
        part = peer.ask("plain", text_xml(more, msg_id=f"2430917500000020{n}"))["Content"]
        if part == nothing_more:
            return parts
        parts.append(part)
    raise AssertionError(f"no end after {len(parts)} parts")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_continue_returns_the_rest_of_a_long_answer_in_parts_that_fit(
    long_peer: WeChatPeer, lang: str
) -> None:
    hint = "\n" + dialogue_text("more_hint", lang, app_config(corpus_dir=MINI_CORPUS))

    parts = read_all_parts(long_peer, lang)

    assert len(parts) >= 3
    assert all(len(part.encode("utf-8")) <= MAX_REPLY_BYTES for part in parts)
    joiner = "" if lang == "zh" else " "
    assert joiner.join(part.removesuffix(hint) for part in parts) == LONG_ANSWERS[lang]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_part_but_the_last_says_how_to_get_the_rest(long_peer: WeChatPeer, lang: str) -> None:
    hint = "\n" + dialogue_text("more_hint", lang, app_config(corpus_dir=MINI_CORPUS))

    parts = read_all_parts(long_peer, lang)

    assert [part.endswith(hint) for part in parts] == [True] * (len(parts) - 1) + [False]


# --- hostile and malformed bodies -------------------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
    "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&lol4;</Content><MsgId>1</MsgId></xml>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&secret;</Content><MsgId>2</MsgId></xml>"
)
EXTERNAL_DTD = '<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd">' + text_xml("学费")
PARAMETER_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x">%remote;]>'
    + text_xml("学费")
)
PLAIN_DOCTYPE = "<!DOCTYPE xml>" + text_xml("学费")
HOSTILE_BODIES = {
    "billion-laughs": BILLION_LAUGHS,
    "external-entity": EXTERNAL_ENTITY,
    "external-dtd": EXTERNAL_DTD,
    "parameter-entity": PARAMETER_ENTITY,
    "doctype": PLAIN_DOCTYPE,
    "not-xml": "学费多少",
    "json": '{"Content": "学费多少"}',
    "empty": "",
    "unclosed": "<xml><ToUserName>a</ToUserName>",
    "wrong-root": text_xml("学费").replace("<xml>", "<msg>").replace("</xml>", "</msg>"),
    "no-msgtype": "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime></xml>",
    "text-without-content": message_xml("text", msg_id="7"),
    "bad-create-time": text_xml("学费").replace("<CreateTime>", "<CreateTime>soon"),
    "unknown-encoding": '<?xml version="1.0" encoding="x-no-such-charset"?>' + text_xml("学费"),
    "broken-utf8": text_xml("学费").encode("utf-8").replace("学".encode(), b"\xe5\xad"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_hostile_or_malformed_bodies_are_refused_with_a_client_error(
    peer: WeChatPeer, storage: MemoryStorage, mode: str, name: str
) -> None:
    response = peer.post(mode, HOSTILE_BODIES[name])

    assert response.status_code == 400
    assert "root:" not in response.get_data(as_text=True)
    assert storage.questions() == []


@pytest.mark.parametrize("name", ["billion-laughs", "external-entity", "doctype", "not-xml", "empty"])
def test_hostile_safe_mode_envelopes_are_refused_with_a_client_error(
    peer: WeChatPeer, storage: MemoryStorage, name: str
) -> None:
    body = HOSTILE_BODIES[name]
    query = {**peer.query(), "encrypt_type": "aes", "msg_signature": "0" * 40}

    response = peer.post_plain(body, query=query)

    assert 400 <= response.status_code < 500
    assert storage.questions() == []


def padded_to(size: int) -> bytes:
    """A well-formed text message padded with whitespace between elements to exactly `size` bytes."""
    body = text_xml("学费多少").encode("utf-8")
    return body.replace(b"</xml>", b" " * (size - len(body)) + b"</xml>")


@pytest.mark.parametrize("mode", MODES)
def test_a_body_over_the_limit_is_refused(peer: WeChatPeer, wechat_config: Config, mode: str) -> None:
    response = peer.post(mode, padded_to(wechat_config.wechat.max_body_bytes + 1))

    assert response.status_code == 413


def test_a_body_at_the_limit_is_answered(
    peer: WeChatPeer, wechat_config: Config, corpus_brain: Brain
) -> None:
    reply = peer.ask("plain", padded_to(wechat_config.wechat.max_body_bytes))

    assert reply["Content"] == answer_of(corpus_brain, "tuition-fee", "zh")


@pytest.mark.parametrize("limit", [1024, 8192])
def test_a_smaller_configured_limit_is_enforced(
    wechat_config: Config, corpus_brain: Brain, storage: MemoryStorage, clock: SettableClock, limit: int
) -> None:
    peer = peer_for(with_wechat(wechat_config, max_body_bytes=limit), corpus_brain, storage, clock)

    assert peer.post_plain(padded_to(limit)).status_code == 200
    assert peer.post_plain(padded_to(limit + 1)).status_code == 413


# --- not configured ---------------------------------------------------------------------------------------


@pytest.fixture
def unconfigured_client(corpus_brain: Brain, storage: MemoryStorage, clock: SettableClock) -> FlaskClient:
    return make_app(app_config(env={}), corpus_brain, storage, clock).test_client()


def test_verification_is_not_found_when_wechat_is_not_configured(
    unconfigured_client: FlaskClient, clock: SettableClock
) -> None:
    peer = WeChatPeer(unconfigured_client, clock, token="")
    query = peer.query(token="anything")

    assert peer.verify({**query, "echostr": ECHOSTR}).status_code == 404


def test_deliveries_are_not_found_when_wechat_is_not_configured(
    unconfigured_client: FlaskClient, clock: SettableClock, storage: MemoryStorage
) -> None:
    peer = WeChatPeer(unconfigured_client, clock, token="")

    response = peer.post_plain(text_xml("学费多少"), query=peer.query(token="anything"))

    assert response.status_code == 404
    assert storage.questions() == []


def test_the_app_factory_builds_its_own_engine_and_answers(tmp_path: Path) -> None:
    clock = SettableClock()
    config = app_config(corpus_dir=MINI_CORPUS)
    storage = SQLiteStorage(tmp_path / "faqbot.db", clock=clock)
    peer = WeChatPeer(create_app(config, storage=storage, clock=clock).test_client(), clock)

    reply = peer.ask("safe", text_xml("学费多少"))

    assert reply["Content"] == load_corpus(MINI_CORPUS).by_id()["tuition-fee"].answer["zh"]
    storage.close()


def test_a_retry_after_the_conversation_moved_on_still_gets_the_first_reply(
    wechat_config: Config, corpus_brain: Brain, any_storage: Storage, clock: SettableClock
) -> None:
    peer = peer_for(wechat_config, corpus_brain, any_storage, clock)
    peer.post_plain(text_xml("菜单", msg_id="24309175000000020"))
    first = peer.post_plain(text_xml("3", msg_id="24309175000000021")).data
    clock.advance(5)
    retry = peer.post_plain(text_xml("3", msg_id="24309175000000021")).data

    assert retry == first
    assert [record.text for record in any_storage.questions()] == ["菜单", "3"]


def test_simultaneous_deliveries_of_one_message_are_answered_and_counted_once(
    wechat_config: Config, corpus_brain: Brain, any_storage: Storage, clock: SettableClock
) -> None:
    peer = peer_for(wechat_config, corpus_brain, any_storage, clock)
    racers = 6
    start = threading.Barrier(racers)

    def deliver() -> bytes:
        start.wait(timeout=10)
        return peer.post_plain(text_xml("学费多少", msg_id="24309175000000030")).data

    with ThreadPoolExecutor(max_workers=racers) as pool:
        bodies = list(pool.map(lambda _: deliver(), range(racers)))

    assert len(set(bodies)) == 1
    assert [record.text for record in any_storage.questions()] == ["学费多少"]


def test_a_follow_up_is_read_with_the_conversation_read_alongside_the_stored_reply(
    wechat_config: Config, corpus_brain: Brain, any_storage: Storage, clock: SettableClock
) -> None:
    """The sender's conversation comes from the same read as the retry check; the follow-up needs it."""
    peer = peer_for(wechat_config, corpus_brain, any_storage, clock)
    peer.ask("plain", text_xml("重庆招多少人", msg_id="24309175000000031"))
    follow_up = peer.ask("plain", text_xml("那文科呢", msg_id="24309175000000032"))
    assert "重庆市招收40名" in follow_up["Content"]
    # A newcomer asking the same words alone gets what they mean alone (remembered first replies).
    alone = peer.ask("plain", text_xml("那文科呢", msg_id="24309175000000033", from_user="oNewcomer"))
    assert "重庆市招收40名" not in alone["Content"]


class _CombinedReadFails(MemoryStorage):
    """A storage whose combined read of reply and conversation fails (the rest works)."""

    def load_reply_and_session(self, reply_key: str, session_key: str) -> tuple[str | None, dict | None]:
        raise StorageError("down for a moment")


def test_a_message_is_answered_when_the_combined_read_fails(
    wechat_config: Config, corpus_brain: Brain, clock: SettableClock
) -> None:
    storage = _CombinedReadFails(clock=clock)
    peer = peer_for(wechat_config, corpus_brain, storage, clock)
    reply = peer.ask("plain", text_xml("学费多少", msg_id="24309175000000041"))
    assert "62000" in reply["Content"]
    assert [record.text for record in storage.questions()] == ["学费多少"]
