"""Helpers for the HTTP tests: the app as deployed, a clock tests move, and a stand-in for WeChat's servers.

The WeChat side is played by `wechatpy`, an implementation of the protocol independent of ours: it signs,
encrypts and posts the way WeChat does, and it decrypts and checks the replies.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml
from flask import Flask
from flask.testing import FlaskClient
from wechatpy.crypto import WeChatCrypto
from werkzeug.test import TestResponse

from bot.config import Config, load_config
from bot.engine import Brain, FAQBot
from bot.storage import Storage
from server import create_app

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
REPO_CONFIG = REPO_ROOT / "config.yaml"
MINI_CORPUS = TESTS_DIR / "data" / "mini_corpus"

TOKEN = "cqmuImcWeChatToken"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
APP_ID = "wx49f0ab532d5d035a"
OTHER_APP_ID = "wx0123456789abcdef"
ADMIN_TOKEN = "staff-only-4f1c2a"
NOW = 1_700_000_000.0
ACCOUNT = "gh_cqmu_imc"
STUDENT = "oStudent42AbCdEf"
NONCE = "1320562132"
XML_CONTENT_TYPE = "application/xml; charset=utf-8"

WECHAT_ENV: Mapping[str, str] = {
    "FAQBOT_WECHAT_TOKEN": TOKEN,
    "FAQBOT_WECHAT_AES_KEY": AES_KEY,
    "FAQBOT_WECHAT_APPID": APP_ID,
    "FAQBOT_WECHAT_MODE": "compatible",
}


def app_config(env: Mapping[str, str] | None = None, corpus_dir: Path | None = None, **server: Any) -> Config:
    """config.yaml as deployed, with `env` as the environment, no watcher thread and `server.*` changes."""
    loaded = load_config(REPO_CONFIG, env=dict(WECHAT_ENV if env is None else env))
    config = replace(
        loaded,
        storage="memory://",
        server=replace(loaded.server, **{"watch_corpus": False, **server}),
        analysis_cache="",  # the repository's var/ is not the tests' to write
    )
    return config if corpus_dir is None else replace(config, corpus_dir=corpus_dir)


def with_wechat(config: Config, **changes: Any) -> Config:
    """The configuration with some `wechat.*` settings changed."""
    return replace(config, wechat=replace(config.wechat, **changes))


@dataclass
class SettableClock:
    """Time that moves only when a test moves it, so timestamps and reply bytes are reproducible."""

    now: float = NOW

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_app(config: Config, brain: Brain, storage: Storage, clock: SettableClock) -> Flask:
    """The real application over a brain built once per module (building one takes seconds)."""
    bot = FAQBot(config, storage, clock=clock, brain=brain)
    return create_app(config, storage=storage, clock=clock, bot=bot)


def dialogue_text(key: str, lang: str, config: Config) -> str:
    """A reply of faq_corpus/dialogue.yaml read straight from the file, contacts filled in."""
    data = yaml.safe_load((config.corpus_dir / "dialogue.yaml").read_text(encoding="utf-8"))
    template = str(data["replies"][key][lang])
    return template.format(phone=config.dialogue.contact_phone, email=config.dialogue.contact_email)


def dialogue_menu(config: Config) -> list[str]:
    """The entry ids of the numbered menu, in order, from dialogue.yaml."""
    data = yaml.safe_load((config.corpus_dir / "dialogue.yaml").read_text(encoding="utf-8"))
    return [str(entry_id) for entry_id in data["menu"]]


def _cdata(value: str) -> str:
    return f"<![CDATA[{value}]]>"


def message_xml(
    msg_type: str,
    *,
    from_user: str = STUDENT,
    create_time: int = int(NOW) - 2,
    msg_id: str | None = None,
    **fields: str,
) -> str:
    """A message or event as WeChat pushes it; extra `fields` (Content, Event, Recognition ...) as given."""
    parts = [
        f"<ToUserName>{_cdata(ACCOUNT)}</ToUserName>",
        f"<FromUserName>{_cdata(from_user)}</FromUserName>",
        f"<CreateTime>{create_time}</CreateTime>",
        f"<MsgType>{_cdata(msg_type)}</MsgType>",
    ]
    parts += [f"<{name}>{_cdata(value)}</{name}>" for name, value in fields.items()]
    if msg_id is not None:
        parts.append(f"<MsgId>{escape(msg_id)}</MsgId>")
    return "<xml>" + "".join(parts) + "</xml>"


def text_xml(content: str, msg_id: str = "24309175000000001", **kwargs: Any) -> str:
    """A text message."""
    return message_xml("text", msg_id=msg_id, Content=content, **kwargs)


def event_xml(event: str, key: str | None = None, **kwargs: Any) -> str:
    """An event (subscribe, CLICK ...), which carries no MsgId."""
    extra = {"EventKey": key} if key is not None else {}
    return message_xml("event", Event=event, **extra, **kwargs)


def wechat_signature(*parts: str) -> str:
    """SHA-1 of the sorted, concatenated parts: how WeChat signs requests and safe-mode envelopes."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def xml_fields(document: str | bytes) -> dict[str, str]:
    """Leaf texts of a reply document the server produced."""
    return {child.tag: child.text or "" for child in ElementTree.fromstring(document)}


@dataclass
class WeChatPeer:
    """Stands in for WeChat's servers: signs, encrypts and posts deliveries, and opens the replies."""

    client: FlaskClient
    clock: SettableClock
    token: str = TOKEN
    aes_key: str = AES_KEY
    app_id: str = APP_ID
    nonces_used: int = 0

    def fresh_nonce(self) -> str:
        """A nonce not used before by this peer."""
        self.nonces_used += 1
        return str(int(NONCE) + self.nonces_used)

    def query(
        self, timestamp: str | None = None, nonce: str | None = None, token: str | None = None, **extra: str
    ) -> dict[str, str]:
        """Query parameters of a request signed with `token` (ours unless given) at `timestamp` (now).

        Each request gets a nonce of its own, as WeChat's do (a reused one is refused as a replay).
        """
        timestamp = str(int(self.clock())) if timestamp is None else timestamp
        nonce = self.fresh_nonce() if nonce is None else nonce
        return {
            "signature": wechat_signature(token or self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": STUDENT,
            **extra,
        }

    def verify(self, query: Mapping[str, str]) -> TestResponse:
        """The GET with which the console checks the server URL."""
        return self.client.get("/wechat", query_string=dict(query))

    def post_plain(self, body: str | bytes, query: Mapping[str, str] | None = None) -> TestResponse:
        """A plain-mode (明文) delivery."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        return self.client.post(
            "/wechat", query_string=dict(self.query() if query is None else query), data=data
        )

    def seal(
        self, body: str | bytes, timestamp: str, nonce: str, app_id: str | None = None
    ) -> tuple[str, str]:
        """(Encrypt, msg_signature) of a safe-mode delivery, made by wechatpy."""
        crypto = WeChatCrypto(self.token, self.aes_key, app_id or self.app_id)
        envelope = xml_fields(crypto.encrypt_message(body, nonce, timestamp))
        return envelope["Encrypt"], envelope["MsgSignature"]

    def post_safe(
        self,
        body: str | bytes,
        app_id: str | None = None,
        timestamp: str | None = None,
        query_changes: Mapping[str, str | None] | None = None,
    ) -> TestResponse:
        """A safe-mode (安全模式) delivery: the message encrypted for `app_id`, signed twice."""
        timestamp = str(int(self.clock())) if timestamp is None else timestamp
        nonce = self.fresh_nonce()
        encrypted, msg_signature = self.seal(body, timestamp, nonce, app_id)
        query: dict[str, str | None] = {
            **self.query(timestamp=timestamp, nonce=nonce),
            "encrypt_type": "aes",
            "msg_signature": msg_signature,
        }
        query.update(query_changes or {})
        envelope = (
            f"<xml><ToUserName>{_cdata(ACCOUNT)}</ToUserName><Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
        )
        sent = {name: value for name, value in query.items() if value is not None}
        return self.client.post("/wechat", query_string=sent, data=envelope.encode("utf-8"))

    def post(self, mode: str, body: str | bytes) -> TestResponse:
        """A delivery in `mode` ("plain" or "safe")."""
        return self.post_plain(body) if mode == "plain" else self.post_safe(body)

    def open_reply(self, response: TestResponse) -> dict[str, str]:
        """The reply's fields; a safe-mode reply is checked and decrypted by wechatpy first."""
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.content_type == XML_CONTENT_TYPE
        fields = xml_fields(response.data)
        if "Encrypt" not in fields:
            return fields
        crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
        inner = crypto.decrypt_message(
            response.data, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"]
        )
        return xml_fields(inner)

    def ask(self, mode: str, body: str | bytes) -> dict[str, str]:
        """Post a delivery and open the reply."""
        return self.open_reply(self.post(mode, body))
