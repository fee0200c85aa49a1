"""WeChat Official Account protocol, sans-IO: signatures, safe-mode envelopes, messages, passive replies.

The server hands in the query parameters, the raw body and the current time; this module answers with a
parsed message, reply XML, or one of the exceptions below, each of which the server maps to a 4xx status:

    WeChatError
    ├── BadSignature       403
    ├── StaleTimestamp     403
    ├── ReplayedRequest    403
    ├── PlaintextRefused   403
    ├── MalformedMessage   400
    ├── BodyTooLarge       413
    └── DecryptionFailed   400
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar
from xml.etree.ElementTree import ParseError

from defusedxml.ElementTree import DefusedXMLParser

from bot import wechat_crypto


class WeChatError(Exception):
    """Base class for a request the WeChat endpoint refuses; `status_code` is the HTTP answer."""

    status_code: ClassVar[int] = 400


class BadSignature(WeChatError):
    """The signature or msg_signature is missing or does not match the token."""

    status_code: ClassVar[int] = 403


class StaleTimestamp(WeChatError):
    """The timestamp is missing, not an integer, or too far from now (a replay or a broken clock)."""

    status_code: ClassVar[int] = 403


class ReplayedRequest(WeChatError):
    """The (timestamp, nonce) pair was already used by another delivery within the allowed clock skew."""

    status_code: ClassVar[int] = 403


class PlaintextRefused(WeChatError):
    """A plaintext delivery reached an account in safe mode, where every delivery must be encrypted."""

    status_code: ClassVar[int] = 403


class MalformedMessage(WeChatError):
    """The body is not well-formed XML, carries a DTD or entities, or lacks a required field."""

    status_code: ClassVar[int] = 400


class BodyTooLarge(WeChatError):
    """The body is longer than `WeChatSettings.max_body_bytes`."""

    status_code: ClassVar[int] = 413


class DecryptionFailed(WeChatError):
    """The safe-mode ciphertext has bad base64, padding or length, or is addressed to another AppID."""

    status_code: ClassVar[int] = 400


SUCCESS_REPLY = "success"
MAX_CONTENT_BYTES = 2047

_DIGITS = re.compile(r"[0-9]{1,12}")
_ECHOSTR = re.compile(r"[0-9A-Za-z_-]{1,128}")
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_REQUIRED_FIELDS = ("ToUserName", "FromUserName", "CreateTime", "MsgType")
_REQUIRED_BY_TYPE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"text": ("Content",), "event": ("Event",)}
)
_SENTENCE_BREAK = re.compile(r"[。！？]+[”’」』）)]*|\n|[.!?]+[\"'”’)]*(?=\s|\Z)")
_CLAUSE_BREAK = re.compile(r"[；，、：]|[;,:](?=\s|\Z)")
_WORD_BREAK = re.compile(r"\s+")
_BREAK_TIERS = (_SENTENCE_BREAK, _CLAUSE_BREAK, _WORD_BREAK)
_ZERO_WIDTH_JOINER = "\u200d"


@dataclass(frozen=True)
class WeChatSettings:
    """Credentials from the Official Account console and the bounds a request must respect."""

    token: str
    aes_key: str | None = None
    app_id: str | None = None
    max_clock_skew: int = 300
    max_body_bytes: int = 64 * 1024
    mode: str = ""  # plain | compatible | safe; empty: safe with an aes_key, else plain

    def __post_init__(self) -> None:
        """Refuse at start-up a configuration that could never verify or decrypt a request."""
        if not self.token:
            raise ValueError("the WeChat token must not be empty")
        if self.max_clock_skew < 0 or self.max_body_bytes <= 0:
            raise ValueError("max_clock_skew must be >= 0 and max_body_bytes > 0")
        if self.aes_key:
            wechat_crypto.decode_aes_key(self.aes_key)
            if not self.app_id:
                raise ValueError("safe mode (aes_key) needs the AppID as well")
        if self.mode not in ("", "plain", "compatible", "safe"):
            raise ValueError(f"unknown WeChat mode {self.mode!r}")
        if self.mode in ("compatible", "safe") and not self.aes_key:
            raise ValueError(f"{self.mode} mode needs an aes_key")

    @property
    def safe_mode(self) -> bool:
        """Whether an EncodingAESKey is configured, so encrypted requests can be opened and replies sealed."""
        return bool(self.aes_key)

    @property
    def effective_mode(self) -> str:
        """The mode in force: as configured, or safe when an EncodingAESKey is set, else plain."""
        return self.mode or ("safe" if self.aes_key else "plain")


@dataclass(frozen=True)
class IncomingMessage:
    """One message or event pushed by WeChat; `fields` keeps every leaf element, for types not modelled."""

    to_user: str
    from_user: str
    create_time: int
    msg_type: str
    msg_id: str | None
    content: str | None
    recognition: str | None
    event: str | None
    event_key: str | None
    fields: dict[str, str]

    @property
    def dedupe_key(self) -> str:
        """Key under which WeChat's retries collapse: the MsgId, or for events sender, time, event and key.

        Two menu clicks in the same second are two events; only a retry repeats all four.
        """
        if self.msg_id:
            return f"msg:{self.msg_id}"
        return f"evt:{self.from_user}:{self.create_time}:{self.event or ''}:{self.event_key or ''}"


def sign(*parts: str) -> str:
    """SHA-1 hex digest of the parts sorted and concatenated, as WeChat signs requests and envelopes."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8", "surrogatepass")).hexdigest()


def _check_timestamp(settings: WeChatSettings, params: Mapping[str, str], now: float) -> str:
    """Return the timestamp parameter once it is an integer within the allowed clock skew."""
    timestamp = params.get("timestamp")
    if timestamp is None or not _DIGITS.fullmatch(timestamp):
        raise StaleTimestamp("timestamp missing or not an integer")
    if abs(now - int(timestamp)) > settings.max_clock_skew:
        raise StaleTimestamp(f"timestamp {timestamp} is more than {settings.max_clock_skew}s from now")
    return timestamp


def _check_signature(expected: str, given: str | None, name: str) -> None:
    """Compare a signature in constant time so its value cannot be guessed byte by byte."""
    if not given or not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
        raise BadSignature(f"{name} missing or wrong")


def _authenticate(settings: WeChatSettings, params: Mapping[str, str], now: float) -> tuple[str, str]:
    """Check timestamp and `signature`, the pair every GET and POST from WeChat carries; return them."""
    timestamp = _check_timestamp(settings, params, now)
    nonce = params.get("nonce")
    if not nonce:
        raise BadSignature("nonce missing")
    _check_signature(sign(settings.token, timestamp, nonce), params.get("signature"), "signature")
    return timestamp, nonce


def verify_server(settings: WeChatSettings, params: Mapping[str, str], now: float) -> str:
    """Answer WeChat's GET URL check: return `echostr` only when the request is signed with our token."""
    _authenticate(settings, params, now)
    echostr = params.get("echostr")
    if echostr is None:
        raise MalformedMessage("echostr missing")
    if not _ECHOSTR.fullmatch(echostr):  # WeChat sends digits; anything else is not echoed back
        raise MalformedMessage("echostr is not a plain token")
    return echostr


class _LeafFields:
    """Parser target that keeps the text of every element without children, first occurrence of a name wins.

    defusedxml's parser feeds it directly, so no element tree is built only to be thrown away (a third of
    the cost of parsing a delivery), while defusedxml still refuses DTDs, entities and external references.
    """

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.root = ""
        self._open: list[list] = []  # [tag, has children] of each element open around the current point
        self._text: list[str] = []

    def start(self, tag: str, _attributes: object) -> None:
        if self._open:
            self._open[-1][1] = True
        else:
            self.root = tag
        self._open.append([tag, False])
        self._text.clear()

    def end(self, _tag: str) -> None:
        tag, has_children = self._open.pop()
        if not has_children and self._open:  # a leaf below the root
            self.fields.setdefault(tag, "".join(self._text))
        self._text.clear()

    def data(self, text: str) -> None:
        self._text.append(text)

    def close(self) -> _LeafFields:
        return self


def _parse_fields(body: bytes) -> dict[str, str]:
    """The leaf fields of an untrusted <xml> document: DTDs and entities forbidden (no bomb, no fetch)."""
    target = _LeafFields()
    parser = DefusedXMLParser(target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        parser.feed(body)
        parser.close()
    except ParseError as exc:
        raise MalformedMessage(f"body is not well-formed XML: {exc}") from exc
    except (ValueError, LookupError) as exc:
        raise MalformedMessage(f"body uses a forbidden XML construct or encoding: {exc}") from exc
    if target.root != "xml":
        raise MalformedMessage(f"root element is <{target.root}>, expected <xml>")
    return target.fields


def _message_from(fields: dict[str, str]) -> IncomingMessage:
    """Build an IncomingMessage, insisting on the fields every reply and dedupe decision depends on."""
    missing = [name for name in _REQUIRED_FIELDS if not fields.get(name)]
    missing += [name for name in _REQUIRED_BY_TYPE.get(fields.get("MsgType", ""), ()) if name not in fields]
    if missing:
        raise MalformedMessage(f"message lacks {', '.join(missing)}")
    create_time = fields["CreateTime"].strip()
    if not _DIGITS.fullmatch(create_time):
        raise MalformedMessage("CreateTime is not an integer")
    return IncomingMessage(
        to_user=fields["ToUserName"],
        from_user=fields["FromUserName"],
        create_time=int(create_time),
        msg_type=fields["MsgType"],
        msg_id=fields.get("MsgId") or None,
        content=fields.get("Content"),
        recognition=fields.get("Recognition") or None,
        event=fields.get("Event"),
        event_key=fields.get("EventKey"),
        fields=fields,
    )


def open_request(
    settings: WeChatSettings, params: Mapping[str, str], body: bytes, now: float
) -> tuple[IncomingMessage, bool]:
    """Bound, authenticate, decrypt (safe mode) and parse one POST; the flag says: seal the reply."""
    if len(body) > settings.max_body_bytes:
        raise BodyTooLarge(f"body of {len(body)} bytes exceeds {settings.max_body_bytes}")
    timestamp, nonce = _authenticate(settings, params, now)
    encrypt_type = params.get("encrypt_type") or "raw"
    mode = settings.effective_mode
    if encrypt_type == "raw":
        if mode == "safe":
            raise PlaintextRefused("plaintext delivery in safe mode")
        return _message_from(_parse_fields(body)), False
    if encrypt_type != "aes":
        raise MalformedMessage(f"unknown encrypt_type {encrypt_type!r}")
    if mode == "plain":
        raise DecryptionFailed("encrypted delivery in plain mode")

    encrypted = _parse_fields(body).get("Encrypt")
    if not encrypted:
        raise MalformedMessage("safe-mode body has no Encrypt element")
    expected = sign(settings.token, timestamp, nonce, encrypted)
    _check_signature(expected, params.get("msg_signature"), "msg_signature")
    if not settings.aes_key or not settings.app_id:
        raise DecryptionFailed("encrypted message received but no EncodingAESKey is configured")
    try:
        key = wechat_crypto.decode_aes_key(settings.aes_key)
        plaintext = wechat_crypto.decrypt(key, settings.app_id, encrypted)
    except ValueError as exc:
        raise DecryptionFailed(str(exc)) from exc
    return _message_from(_parse_fields(plaintext)), True


def _xml_text(value: str) -> str:
    """Drop the characters XML 1.0 cannot carry at all, even inside CDATA."""
    return _XML_ILLEGAL.sub("", value)


def _cdata(value: str) -> str:
    """Wrap text in CDATA, splitting any "]]>" across two sections so it cannot close the element early."""
    return "<![CDATA[" + _xml_text(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _reply(message: IncomingMessage, now: float, msg_type: str, extra: str = "") -> str:
    """Passive reply skeleton: addressed back to the sender, from the account the message was sent to."""
    return (
        "<xml>"
        f"<ToUserName>{_cdata(message.from_user)}</ToUserName>"
        f"<FromUserName>{_cdata(message.to_user)}</FromUserName>"
        f"<CreateTime>{int(now)}</CreateTime>"
        f"<MsgType>{_cdata(msg_type)}</MsgType>"
        f"{extra}"
        "</xml>"
    )


def render_text(message: IncomingMessage, content: str, now: float) -> str:
    """Text reply XML; `content` must be non-blank and at most 2,047 UTF-8 bytes (use split_reply first)."""
    cleaned = _xml_text(content)
    if not cleaned.strip():
        raise ValueError("a text reply needs content; answer SUCCESS_REPLY when there is nothing to say")
    size = len(cleaned.encode("utf-8"))
    if size > MAX_CONTENT_BYTES:
        raise ValueError(f"reply content is {size} bytes, WeChat accepts at most {MAX_CONTENT_BYTES}")
    return _reply(message, now, "text", f"<Content>{_cdata(cleaned)}</Content>")


def render_transfer(message: IncomingMessage, now: float) -> str:
    """Reply that hands the conversation to the account's human customer-service staff."""
    return _reply(message, now, "transfer_customer_service")


def seal_reply(settings: WeChatSettings, reply_xml: str, now: float, nonce: str | None = None) -> str:
    """Encrypt a passive reply for a safe-mode request and wrap it in the signed envelope WeChat expects."""
    if not settings.aes_key or not settings.app_id:
        raise ValueError("seal_reply needs settings with aes_key and app_id")
    key = wechat_crypto.decode_aes_key(settings.aes_key)
    encrypted = wechat_crypto.encrypt(key, settings.app_id, reply_xml.encode("utf-8"))
    timestamp = str(int(now))
    nonce = f"{secrets.randbelow(10**10):010d}" if nonce is None else _xml_text(nonce)
    signature = sign(settings.token, timestamp, nonce, encrypted)
    return (
        "<xml>"
        f"<Encrypt>{_cdata(encrypted)}</Encrypt>"
        f"<MsgSignature>{_cdata(signature)}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp>"
        f"<Nonce>{_cdata(nonce)}</Nonce>"
        "</xml>"
    )


def _utf8_length(char: str) -> int:
    """UTF-8 size of one code point, computed without encoding so lone surrogates cannot raise."""
    code = ord(char)
    return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4


def _window(text: str, limit: int) -> int:
    """Number of leading characters whose UTF-8 fits in `limit` bytes."""
    used = 0
    for index, char in enumerate(text):
        used += _utf8_length(char)
        if used > limit:
            return index
    return len(text)


def _is_regional_indicator(char: str) -> bool:
    """Flag emoji are pairs of these; cutting between a pair shows two letters instead of a flag."""
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _continues_cluster(text: str, index: int) -> bool:
    """Whether a cut before text[index] would split what the reader sees as one character."""
    char, previous = text[index], text[index - 1]
    code = ord(char)
    if _ZERO_WIDTH_JOINER in (char, previous) or unicodedata.category(char) in ("Mn", "Mc", "Me"):
        return True
    if 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:
        return True
    if _is_regional_indicator(char) and _is_regional_indicator(previous):
        run = 0
        while index - run - 1 >= 0 and _is_regional_indicator(text[index - run - 1]):
            run += 1
        return run % 2 == 1
    return False


def _cut_index(text: str, window: int) -> int:
    """Where the next part ends: the best break within `window` characters, else a grapheme-safe cut."""
    last_breaks = []
    for pattern in _BREAK_TIERS:
        ends = [match.end() for match in pattern.finditer(text, 0, window + 1) if match.end() <= window]
        last_breaks.append(ends[-1] if ends else 0)
    for minimum in (max(window // 2, 1), 1):
        for cut in last_breaks:
            if cut >= minimum:
                return cut
    cut = window
    while cut > 0 and _continues_cluster(text, cut):
        cut -= 1
    return cut or window


def split_reply(text: str, limit: int = MAX_CONTENT_BYTES) -> list[str]:
    """Split an answer into parts of at most `limit` UTF-8 bytes, breaking at sentences, then clauses.

    Parts are stripped of surrounding whitespace and never empty; a blank text gives no parts.
    """
    if limit < 4:
        raise ValueError("limit must allow at least one UTF-8 character (4 bytes)")
    parts: list[str] = []
    remaining = text.strip()
    while remaining:
        window = _window(remaining, limit)
        cut = len(remaining) if window == len(remaining) else max(_cut_index(remaining, window), 1)
        parts.append(remaining[:cut].rstrip())
        remaining = remaining[cut:].lstrip()
    return parts
