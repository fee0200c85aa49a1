"""Properties that hold for any input: the endpoints answer 2xx or 4xx, never 5xx, and the engine never raises."""

from __future__ import annotations

import contextlib
import json
import operator
import re
from collections.abc import Iterator
from typing import Any

import pytest
from app_helpers import (
    SettableClock,
    WeChatPeer,
    app_config,
    dialogue_text,
    event_xml,
    make_app,
    message_xml,
    text_xml,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import Config
from bot.engine import Brain, FAQBot, build_brain
from bot.storage import MemoryStorage, SQLiteStorage, Storage

# Only when an example fails, hypothesis's pytest plugin imports libcst, whose mypy_extensions import warns;
# with warnings as errors that would hide the failing example behind an internal error.
pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None)
REPLY_FIELDS = {"answer", "matched", "faq_id", "score", "lang", "suggestions", "parts"}

# Characters people and broken clients send: both scripts, full-width forms, traditional characters, emoji
# sequences (joiners, flags, skin tones), combining marks, controls, bidi overrides, a byte-order mark.
AWKWARD = list(
    "学费多少學費莱斯特ＡＢＣ１２３？abcXYZ 😀🇨🇳👍🏽\u200d\u0301\x00\x07\x1b\n\t\r\u202e\ufeff\ufffd"
)
MIXED_TEXT = st.text(alphabet=st.sampled_from(AWKWARD), max_size=80)
XML_TEXT = st.text(  # what an XML 1.0 document can carry in CDATA
    alphabet=st.characters(exclude_categories=("Cs", "Cc", "Cn"), include_characters="\t\n"), max_size=40
).map(lambda text: text.replace("]]>", ""))
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=80)  # lone surrogates too
HUGE_TEXT = st.builds(
    operator.mul, st.text(alphabet=st.sampled_from(AWKWARD), min_size=1, max_size=8), st.integers(1, 20_000)
)
QUESTION_TEXT = st.one_of(st.text(max_size=600), MIXED_TEXT, ANY_TEXT, HUGE_TEXT)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), ANY_TEXT)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def property_config() -> Config:
    """The deployed configuration, without the rate limit (examples come faster than people type)."""
    return app_config(rate_limit_per_minute=0)


@pytest.fixture(scope="module")
def corpus_brain(property_config: Config) -> Brain:
    """The engine over the real corpus, built once for the module."""
    return build_brain(property_config)


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def module_storage(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Storage]:
    """Each single-machine storage backend, shared by the examples of the module."""
    if request.param == "memory":
        yield MemoryStorage()
        return
    sqlite = SQLiteStorage(tmp_path_factory.mktemp("properties") / "faqbot.db")
    yield sqlite
    sqlite.close()


@pytest.fixture(scope="module")
def peer(property_config: Config, corpus_brain: Brain, module_storage: Storage) -> WeChatPeer:
    clock = SettableClock()
    return WeChatPeer(make_app(property_config, corpus_brain, module_storage, clock).test_client(), clock)


# --- /api/ask ---------------------------------------------------------------------------------------------


@st.composite
def api_bodies(draw: st.DrawFn) -> bytes:
    """A JSON body with any question (text or not), maybe a session and a language, in ASCII or UTF-8."""
    body: dict[str, Any] = {"question": draw(st.one_of(QUESTION_TEXT, JSON_VALUES))}
    if draw(st.booleans()):
        body["session"] = draw(st.one_of(st.just("property-user"), ANY_TEXT, JSON_VALUES))
    if draw(st.booleans()):
        body["lang"] = draw(st.one_of(st.sampled_from(["en", "zh", "", "fr"]), JSON_VALUES))
    ascii_only = draw(st.booleans())
    return json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@PROPERTY_SETTINGS
@given(body=api_bodies())
def test_the_api_answers_any_json_body_with_200_or_a_client_error(peer: WeChatPeer, body: bytes) -> None:
    response = peer.client.post("/api/ask", data=body, content_type="application/json")

    assert response.status_code == 200 or 400 <= response.status_code < 500
    payload = response.get_json()
    if response.status_code == 200:
        assert set(payload) == REPLY_FIELDS
        assert payload["lang"] in ("en", "zh")
        assert payload["answer"].strip()
    else:
        assert set(payload) == {"error"}


@PROPERTY_SETTINGS
@given(
    body=st.binary(max_size=4096), content_type=st.sampled_from(["application/json", "text/plain", "", "x/y"])
)
def test_the_api_answers_any_bytes_with_a_json_client_error_or_a_reply(
    peer: WeChatPeer, body: bytes, content_type: str
) -> None:
    response = peer.client.post("/api/ask", data=body, content_type=content_type)

    assert response.status_code == 200 or 400 <= response.status_code < 500
    assert isinstance(response.get_json(), dict)


# --- /wechat ----------------------------------------------------------------------------------------------

ENCODINGS = [
    "utf-8",
    "UTF-16",
    "utf-16-le",
    "utf-32",
    "gbk",
    "gb2312",
    "big5",
    "shift_jis",
    "iso-8859-1",
    "us-ascii",
    "cp037",
    "utf-7",
    "x-no-such-charset",
    "",
]
TAG = re.compile(rb"<(\w+)>")


@st.composite
def valid_deliveries(draw: st.DrawFn) -> str:
    """A well-formed message or event, with a fresh MsgId or CreateTime so retries do not collapse them."""
    msg_id = str(draw(st.integers(1, 10**18)))
    create_time = draw(st.integers(1, 2**31 - 1))
    content = draw(
        st.one_of(XML_TEXT, st.sampled_from(["学费多少", "How much is the tuition fee?", "继续", "1"]))
    )
    return draw(
        st.sampled_from(
            [
                text_xml(content, msg_id=msg_id),
                text_xml("学费多少", msg_id=msg_id),
                message_xml("voice", msg_id=msg_id, MediaId="m", Format="amr", Recognition=content),
                message_xml("image", msg_id=msg_id, PicUrl="https://mmbiz.qpic.cn/x", MediaId="m"),
                event_xml("subscribe", create_time=create_time),
                event_xml("CLICK", "TUITION", create_time=create_time),
                event_xml("CLICK", content, create_time=create_time),
            ]
        )
    )


@st.composite
def mutated_deliveries(draw: st.DrawFn) -> bytes:
    """A valid delivery damaged by one to three mutations: cut, junk, swapped tags, bad UTF-8, encodings."""
    body = draw(valid_deliveries()).encode("utf-8")
    for _ in range(draw(st.integers(1, 3))):
        mutation = draw(
            st.sampled_from(["truncate", "insert", "swap-tags", "break-utf8", "declare", "repeat"])
        )
        position = draw(st.integers(0, len(body)))
        if mutation == "truncate":
            body = body[:position]
        elif mutation == "insert":
            body = body[:position] + draw(st.binary(min_size=1, max_size=16)) + body[position:]
        elif mutation == "swap-tags":
            names = sorted(set(TAG.findall(body)))
            if len(names) >= 2:
                first, second = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
                closing = draw(st.booleans())
                pairs = [(b"<%s>" % first, b"<%s>" % second)] + (
                    [(b"</%s>" % first, b"</%s>" % second)] if closing else []
                )
                for old, new in pairs:
                    body = body.replace(old, b"\x00swap\x00").replace(new, old).replace(b"\x00swap\x00", new)
        elif mutation == "break-utf8":
            body = (
                body[:position]
                + draw(st.sampled_from([b"\xff", b"\x80", b"\xc3", b"\xe5\xad", b"\xed\xa0\x80"]))
                + body[position:]
            )
        elif mutation == "declare":
            encoding = draw(st.sampled_from(ENCODINGS))
            if draw(st.booleans()):
                with contextlib.suppress(LookupError, UnicodeDecodeError):
                    body = body.decode("utf-8").encode(encoding, "replace")
            body = b'<?xml version="1.0" encoding="%s"?>' % encoding.encode() + body
        else:
            body = body + body[position:]
    return body


def assert_client_error_or_a_reply(peer: WeChatPeer, response, config: Config) -> None:
    """2xx or 4xx; a reply is never the apology the channel gives when answering raised an exception."""
    status = response.status_code
    assert 200 <= status < 300 or 400 <= status < 500, response.get_data(as_text=True)
    if status == 200 and response.data != b"success":
        reply = peer.open_reply(response)
        assert reply.get("Content") not in {dialogue_text("error", lang, config) for lang in ("en", "zh")}


@pytest.mark.parametrize("mode", ["plain", "safe"])
@PROPERTY_SETTINGS
@given(body=st.binary(max_size=4096))
def test_any_bytes_in_a_signed_delivery_get_2xx_or_4xx(
    peer: WeChatPeer, property_config: Config, mode: str, body: bytes
) -> None:
    assert_client_error_or_a_reply(peer, peer.post(mode, body), property_config)


@pytest.mark.parametrize("mode", ["plain", "safe"])
@PROPERTY_SETTINGS
@given(body=mutated_deliveries())
def test_mutated_deliveries_get_2xx_or_4xx(
    peer: WeChatPeer, property_config: Config, mode: str, body: bytes
) -> None:
    assert_client_error_or_a_reply(peer, peer.post(mode, body), property_config)


@pytest.mark.parametrize("mode", ["plain", "safe"])
@PROPERTY_SETTINGS
@given(body=valid_deliveries())
def test_well_formed_deliveries_with_any_content_are_answered(
    peer: WeChatPeer, property_config: Config, mode: str, body: str
) -> None:
    response = peer.post(mode, body)

    assert response.status_code == 200
    assert_client_error_or_a_reply(peer, response, property_config)


# --- the engine -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(property_config: Config, corpus_brain: Brain) -> FAQBot:
    return FAQBot(property_config, MemoryStorage(), brain=corpus_brain)


ENGINE_TEXT = st.one_of(
    st.text(max_size=300), MIXED_TEXT, st.builds(operator.mul, MIXED_TEXT, st.integers(1, 200))
)


@PROPERTY_SETTINGS
@given(
    text=ENGINE_TEXT,
    session=st.sampled_from([None, "property-user", "property-parent"]),
    lang=st.sampled_from([None, "en", "zh"]),
    max_bytes=st.sampled_from([None, 2047, 300]),
)
def test_ask_always_replies_in_english_or_chinese_with_some_text(
    engine: FAQBot, text: str, session: str | None, lang: str | None, max_bytes: int | None
) -> None:
    reply = engine.ask(text, session=session, lang=lang, max_bytes=max_bytes)

    assert reply.lang in ("en", "zh")
    assert reply.text.strip()
    if max_bytes is not None:
        assert len(reply.text.encode("utf-8")) <= max_bytes


@pytest.mark.parametrize(("text", "session"), [("\ud800学费", None), ("学费", "\udfff")])
def test_ask_survives_lone_surrogates(engine: FAQBot, text: str, session: str | None) -> None:
    reply = engine.ask(text, session=session)

    assert reply.lang in ("en", "zh")
