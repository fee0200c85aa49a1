"""Any request to any route (method, path, query string, headers, body): never a 5xx, never a traceback or path."""

from __future__ import annotations

import re

import pytest
from app_helpers import ADMIN_TOKEN, MINI_CORPUS, SettableClock, app_config, make_app
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine import build_brain
from bot.storage import MemoryStorage

pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
ROUTE_SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None)
PATHS = ["/", "/healthz", "/api/ask", "/wechat", "/admin/reload", "/admin/stats", "/static/chat.js", "/nope"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
QUERY_KEYS = st.sampled_from(
    ["signature", "timestamp", "nonce", "echostr", "encrypt_type", "msg_signature", "openid", "since", "x"]
)
HEADER_VALUES = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
HEADERS = st.dictionaries(
    st.sampled_from(
        ["Content-Type", "Authorization", "X-Forwarded-For", "X-Faqbot-Channel", "Accept", "Content-Encoding"]
    ),
    st.one_of(
        HEADER_VALUES,
        st.sampled_from(["application/json", "text/xml", f"Bearer {ADMIN_TOKEN}", "bearer x", "web"]),
    ),
    max_size=4,
)
BODIES = st.one_of(
    st.binary(max_size=300),
    TEXT.map(str.encode),
    st.sampled_from([b"{", b"[]", b'{"question": "\\ud800"}', b"<xml><a>", b'{"question": {"a": []}}']),
    st.integers(1, 3000).map(lambda depth: b"[" * depth),
    st.builds(lambda q, s: f'{{"question": {q!r}, "session": {s!r}}}'.encode(), TEXT, TEXT),
)
TRACEBACK = re.compile(r"Traceback|File \"|/work/|/tmp/|/usr/|site-packages")


@pytest.fixture(scope="module")
def any_client() -> FlaskClient:
    config = app_config(
        env={"FAQBOT_ADMIN_TOKEN": ADMIN_TOKEN},
        corpus_dir=MINI_CORPUS,
        rate_limit_per_minute=0,
        rate_limit_per_address=0,
        admin_failures_per_minute=0,
    )
    return make_app(config, build_brain(config), MemoryStorage(), SettableClock()).test_client()


@ROUTE_SETTINGS
@given(
    method=st.sampled_from(METHODS),
    path=st.one_of(
        st.sampled_from(PATHS), TEXT.map(lambda text: "/" + text.replace("?", "").replace("#", ""))
    ),
    query=st.dictionaries(QUERY_KEYS, TEXT, max_size=4),
    headers=HEADERS,
    body=BODIES,
)
def test_any_request_to_any_route_is_answered_without_5xx_or_internals(
    any_client: FlaskClient, method: str, path: str, query: dict, headers: dict, body: bytes
) -> None:
    response = any_client.open(path, method=method, query_string=query, headers=headers, data=body)
    text = response.get_data(as_text=True)
    response.close()

    assert response.status_code < 500, text
    assert not TRACEBACK.search(text)


@ROUTE_SETTINGS
@given(body=BODIES, channel=st.sampled_from(["web", "api"]))
def test_any_json_body_to_the_api_gets_an_answer_or_a_4xx(
    any_client: FlaskClient, body: bytes, channel: str
) -> None:
    response = any_client.post(
        "/api/ask", data=body, content_type="application/json", headers={"X-Faqbot-Channel": channel}
    )
    text = response.get_data(as_text=True)

    assert response.status_code in (200, 400, 413, 429), text
    assert not TRACEBACK.search(text)
