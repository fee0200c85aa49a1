"""WeChat Official Account protocol layer, checked against wechatpy as an independent implementation."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.replies import TextReply, TransferCustomerServiceReply
from wechatpy.utils import WeChatSigner, check_signature

from bot import wechat_crypto
from bot.wechat import (
    MAX_CONTENT_BYTES,
    BadSignature,
    BodyTooLarge,
    DecryptionFailed,
    IncomingMessage,
    MalformedMessage,
    PlaintextRefused,
    StaleTimestamp,
    WeChatError,
    WeChatSettings,
    open_request,
    render_text,
    render_transfer,
    seal_reply,
    sign,
    split_reply,
    verify_server,
)

TOKEN = "faqbotToken2024"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
APP_ID = "wx49f0ab532d5d035a"
NOW = 1_700_000_000.0
TIMESTAMP = "1700000000"
NONCE = "1320562132"

TEXT_XML = (
    "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
    "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[学费是多少？]]></Content><MsgId>24309175123456789</MsgId></xml>"
)


def wechat_signature(*parts: str) -> str:
    """Signature as wechatpy (standing in for WeChat's servers) computes it."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def signed_params(timestamp: str = TIMESTAMP, nonce: str = NONCE, token: str = TOKEN, **extra: str) -> dict:
    """Query parameters of a request WeChat signed with `token`."""
    params = {
        "signature": wechat_signature(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": "oStudent42",
    }
    params.update(extra)
    return params


def envelope_fields(envelope: str) -> dict[str, str]:
    """Leaf texts of a trusted envelope produced in the test (ours or wechatpy's)."""
    return {child.tag: child.text or "" for child in ElementTree.fromstring(envelope)}


def safe_request(peer: WeChatCrypto, inner_xml: str) -> tuple[dict, bytes]:
    """What WeChat POSTs in safe mode: the encrypted message plus signature and msg_signature."""
    envelope = peer.encrypt_message(inner_xml, NONCE, TIMESTAMP)
    msg_signature = envelope_fields(envelope)["MsgSignature"]
    return signed_params(encrypt_type="aes", msg_signature=msg_signature), envelope.encode()


def safe_request_with_ciphertext(encrypted: str) -> tuple[dict, bytes]:
    """A correctly signed safe-mode request whose Encrypt element carries `encrypted` verbatim."""
    body = (
        f"<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
    msg_signature = wechat_signature(TOKEN, TIMESTAMP, NONCE, encrypted)
    return signed_params(encrypt_type="aes", msg_signature=msg_signature), body.encode()


@pytest.fixture
def plain_settings() -> WeChatSettings:
    return WeChatSettings(token=TOKEN)


@pytest.fixture
def safe_settings() -> WeChatSettings:
    return WeChatSettings(token=TOKEN, aes_key=AES_KEY, app_id=APP_ID)


@pytest.fixture
def peer() -> WeChatCrypto:
    return WeChatCrypto(TOKEN, AES_KEY, APP_ID)


@pytest.fixture
def text_message(plain_settings: WeChatSettings) -> IncomingMessage:
    message, _ = open_request(plain_settings, signed_params(), TEXT_XML.encode(), NOW)
    return message


# --- errors and settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (BadSignature, 403),
        (StaleTimestamp, 403),
        (MalformedMessage, 400),
        (BodyTooLarge, 413),
        (DecryptionFailed, 400),
    ],
)
def test_every_error_is_a_wechat_error_with_its_status(error: type[WeChatError], status: int) -> None:
    assert issubclass(error, WeChatError)
    assert error.status_code == status


@pytest.mark.parametrize(
    "kwargs",
    [
        {"token": ""},
        {"token": TOKEN, "aes_key": AES_KEY[:-1], "app_id": APP_ID},
        {"token": TOKEN, "aes_key": AES_KEY[:-1] + "!", "app_id": APP_ID},
        {"token": TOKEN, "aes_key": AES_KEY[:-1] + "密", "app_id": APP_ID},
        {"token": TOKEN, "aes_key": AES_KEY},
        {"token": TOKEN, "max_body_bytes": 0},
        {"token": TOKEN, "max_clock_skew": -1},
    ],
)
def test_settings_refuse_unusable_configuration(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        WeChatSettings(**kwargs)


def test_aes_key_decodes_to_the_same_key_as_wechatpy(peer: WeChatCrypto) -> None:
    assert wechat_crypto.decode_aes_key(AES_KEY) == peer.key


# --- signatures and server verification ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "timestamp", "nonce"),
    [
        (TOKEN, TIMESTAMP, NONCE),
        ("zzz", "1", "aaa"),
        ("token", "1409304348", "xxxxxx"),
        ("令牌", "5", "随机"),
    ],
)
def test_sign_is_accepted_by_wechatpy(token: str, timestamp: str, nonce: str) -> None:
    check_signature(token, sign(token, timestamp, nonce), timestamp, nonce)


def test_sign_does_not_depend_on_argument_order() -> None:
    assert sign("b", "c", "a") == sign("a", "b", "c") == wechat_signature("c", "a", "b")


def test_verify_server_returns_echostr(plain_settings: WeChatSettings) -> None:
    params = signed_params(echostr="5837397520946712347")
    assert verify_server(plain_settings, params, NOW) == "5837397520946712347"


@pytest.mark.parametrize(
    "params",
    [
        signed_params(token="someone-else", echostr="e"),
        {**signed_params(echostr="e"), "signature": ""},
        {key: value for key, value in signed_params(echostr="e").items() if key != "signature"},
        {key: value for key, value in signed_params(echostr="e").items() if key != "nonce"},
        {**signed_params(echostr="e"), "nonce": "1320562133"},
        {**signed_params(echostr="e"), "signature": "签名"},
        {**signed_params(echostr="e"), "signature": wechat_signature(TOKEN, TIMESTAMP, NONCE).upper() + "0"},
    ],
    ids=["other-token", "empty", "missing", "nonce-missing", "nonce-changed", "non-ascii", "wrong-length"],
)
def test_verify_server_rejects_bad_signature(plain_settings: WeChatSettings, params: dict) -> None:
    with pytest.raises(BadSignature):
        verify_server(plain_settings, params, NOW)


@pytest.mark.parametrize(
    "timestamp",
    [
        str(int(NOW) - 301),
        str(int(NOW) + 301),
        "0",
        "",
        "abc",
        "1700000000.5",
        "-1700000000",
        " 1700000000",
        "1_700_000_000",
        "１７００００００００",
        "9" * 40,
    ],
    ids=[
        "old",
        "future",
        "epoch",
        "empty",
        "letters",
        "float",
        "negative",
        "space",
        "underscores",
        "fullwidth",
        "huge",
    ],
)
def test_verify_server_rejects_bad_timestamp(plain_settings: WeChatSettings, timestamp: str) -> None:
    with pytest.raises(StaleTimestamp):
        verify_server(plain_settings, signed_params(timestamp=timestamp, echostr="e"), NOW)


def test_verify_server_rejects_missing_timestamp(plain_settings: WeChatSettings) -> None:
    params = {key: value for key, value in signed_params(echostr="e").items() if key != "timestamp"}
    with pytest.raises(StaleTimestamp):
        verify_server(plain_settings, params, NOW)


@pytest.mark.parametrize("timestamp", [str(int(NOW) - 300), str(int(NOW) + 300)])
def test_verify_server_accepts_timestamp_at_the_skew_limit(
    plain_settings: WeChatSettings, timestamp: str
) -> None:
    assert verify_server(plain_settings, signed_params(timestamp=timestamp, echostr="e"), NOW) == "e"


def test_verify_server_without_echostr_is_malformed(plain_settings: WeChatSettings) -> None:
    with pytest.raises(MalformedMessage):
        verify_server(plain_settings, signed_params(), NOW)


# --- plain-mode POSTs and message parsing --------------------------------------------------------------

MESSAGE_SAMPLES = [
    pytest.param(
        TEXT_XML,
        {"msg_type": "text", "content": "学费是多少？", "msg_id": "24309175123456789"},
        id="text",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[image]]></MsgType>"
        "<PicUrl><![CDATA[http://mmbiz.qpic.cn/x.jpg]]></PicUrl><MediaId><![CDATA[media_1]]></MediaId>"
        "<MsgId>1001</MsgId></xml>",
        {"msg_type": "image", "msg_id": "1001", "content": None},
        id="image",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[voice]]></MsgType>"
        "<MediaId><![CDATA[media_2]]></MediaId><Format><![CDATA[amr]]></Format>"
        "<Recognition><![CDATA[宿舍在哪里]]></Recognition><MsgId>1002</MsgId></xml>",
        {"msg_type": "voice", "msg_id": "1002", "recognition": "宿舍在哪里"},
        id="voice-recognised",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[voice]]></MsgType>"
        "<MediaId><![CDATA[media_3]]></MediaId><Format><![CDATA[speex]]></Format><MsgId>1003</MsgId></xml>",
        {"msg_type": "voice", "msg_id": "1003", "recognition": None},
        id="voice-unrecognised",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[video]]></MsgType>"
        "<MediaId><![CDATA[media_4]]></MediaId><ThumbMediaId><![CDATA[thumb_4]]></ThumbMediaId>"
        "<MsgId>1004</MsgId></xml>",
        {"msg_type": "video", "msg_id": "1004"},
        id="video",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[shortvideo]]></MsgType>"
        "<MediaId><![CDATA[media_5]]></MediaId><ThumbMediaId><![CDATA[thumb_5]]></ThumbMediaId>"
        "<MsgId>1005</MsgId></xml>",
        {"msg_type": "shortvideo", "msg_id": "1005"},
        id="shortvideo",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[location]]></MsgType>"
        "<Location_X>29.53</Location_X><Location_Y>106.57</Location_Y><Scale>15</Scale>"
        "<Label><![CDATA[重庆医科大学]]></Label><MsgId>1006</MsgId></xml>",
        {"msg_type": "location", "msg_id": "1006"},
        id="location",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[link]]></MsgType>"
        "<Title><![CDATA[Title]]></Title><Description><![CDATA[Description]]></Description>"
        "<Url><![CDATA[https://example.org/]]></Url><MsgId>1007</MsgId></xml>",
        {"msg_type": "link", "msg_id": "1007"},
        id="link",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[file]]></MsgType>"
        "<Title><![CDATA[timetable.pdf]]></Title><Description><![CDATA[]]></Description>"
        "<FileKey><![CDATA[key]]></FileKey><FileMd5><![CDATA[d41d8cd98f00b204e9800998ecf8427e]]></FileMd5>"
        "<FileTotalLen><![CDATA[1024]]></FileTotalLen><MsgId>1008</MsgId></xml>",
        {"msg_type": "file", "msg_id": "1008"},
        id="file",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[hologram]]></MsgType>"
        "<Shape><![CDATA[cube]]></Shape><MsgId>1009</MsgId></xml>",
        {"msg_type": "hologram", "msg_id": "1009"},
        id="unknown-type",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[subscribe]]></Event></xml>",
        {"msg_type": "event", "event": "subscribe", "event_key": None, "msg_id": None},
        id="event-subscribe",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_123123]]></EventKey>"
        "<Ticket><![CDATA[TICKET]]></Ticket></xml>",
        {"event": "subscribe", "event_key": "qrscene_123123"},
        id="event-subscribe-by-qrcode",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[unsubscribe]]></Event></xml>",
        {"event": "unsubscribe", "msg_id": None},
        id="event-unsubscribe",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[MENU_FEES]]></EventKey></xml>",
        {"event": "CLICK", "event_key": "MENU_FEES"},
        id="event-click",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[https://example.org/menu]]></EventKey></xml>",
        {"event": "VIEW", "event_key": "https://example.org/menu"},
        id="event-view",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[123123]]></EventKey>"
        "<Ticket><![CDATA[TICKET]]></Ticket></xml>",
        {"event": "SCAN", "event_key": "123123"},
        id="event-scan",
    ),
    pytest.param(
        "<xml><ToUserName><![CDATA[gh_cqmu]]></ToUserName><FromUserName><![CDATA[oStudent42]]></FromUserName>"
        "<CreateTime>1699999990</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[LOCATION]]></Event><Latitude>29.530000</Latitude><Longitude>106.570000</Longitude>"
        "<Precision>119.385040</Precision></xml>",
        {"event": "LOCATION", "event_key": None},
        id="event-location",
    ),
]


@pytest.mark.parametrize(("xml", "expected"), MESSAGE_SAMPLES)
def test_open_request_parses_message(plain_settings: WeChatSettings, xml: str, expected: dict) -> None:
    message, encrypted = open_request(plain_settings, signed_params(), xml.encode(), NOW)
    assert not encrypted
    assert {name: getattr(message, name) for name in expected} == expected


@pytest.mark.parametrize(("xml", "expected"), MESSAGE_SAMPLES)
def test_parsed_envelope_matches_wechatpy(plain_settings: WeChatSettings, xml: str, expected: dict) -> None:
    message, _ = open_request(plain_settings, signed_params(), xml.encode(), NOW)
    reference = parse_message(xml)
    assert (message.from_user, message.to_user, message.create_time) == (
        reference.source,
        reference.target,
        reference.time,
    )


@pytest.mark.parametrize(("xml", "expected"), MESSAGE_SAMPLES)
def test_fields_keep_every_element(plain_settings: WeChatSettings, xml: str, expected: dict) -> None:
    message, _ = open_request(plain_settings, signed_params(), xml.encode(), NOW)
    assert message.fields == {child.tag: child.text or "" for child in ElementTree.fromstring(xml)}


def test_dedupe_key_of_a_message_uses_msg_id(text_message: IncomingMessage) -> None:
    assert text_message.dedupe_key == "msg:24309175123456789"


def test_dedupe_key_of_an_event_uses_sender_time_event_and_key(plain_settings: WeChatSettings) -> None:
    event_xml = MESSAGE_SAMPLES[-1].values[0]
    message, _ = open_request(plain_settings, signed_params(), event_xml.encode(), NOW)
    assert message.dedupe_key == "evt:oStudent42:1699999990:LOCATION:"


def test_two_menu_clicks_in_the_same_second_have_different_dedupe_keys(
    plain_settings: WeChatSettings,
) -> None:
    def click(key: str) -> str:
        body = (
            "<xml><ToUserName>gh_x</ToUserName><FromUserName>oStudent42</FromUserName>"
            "<CreateTime>1699999990</CreateTime><MsgType>event</MsgType><Event>CLICK</Event>"
            f"<EventKey>{key}</EventKey></xml>"
        )
        return open_request(plain_settings, signed_params(), body.encode(), NOW)[0].dedupe_key

    assert click("TUITION") != click("CONTACT")


def test_open_request_rejects_wrong_signature(plain_settings: WeChatSettings) -> None:
    with pytest.raises(BadSignature):
        open_request(plain_settings, signed_params(token="someone-else"), TEXT_XML.encode(), NOW)


def test_open_request_rejects_stale_timestamp(plain_settings: WeChatSettings) -> None:
    params = signed_params(timestamp=str(int(NOW) - 3600))
    with pytest.raises(StaleTimestamp):
        open_request(plain_settings, params, TEXT_XML.encode(), NOW)


def test_open_request_rejects_unknown_encrypt_type(plain_settings: WeChatSettings) -> None:
    with pytest.raises(MalformedMessage):
        open_request(plain_settings, signed_params(encrypt_type="rot13"), TEXT_XML.encode(), NOW)


def test_oversized_body_is_refused_before_authentication(plain_settings: WeChatSettings) -> None:
    body = b"<xml>" + b" " * plain_settings.max_body_bytes + b"</xml>"
    with pytest.raises(BodyTooLarge):
        open_request(plain_settings, {}, body, NOW)


def test_body_at_the_size_limit_is_accepted() -> None:
    bounded = WeChatSettings(token=TOKEN, max_body_bytes=len(TEXT_XML.encode()))
    message, _ = open_request(bounded, signed_params(), TEXT_XML.encode(), NOW)
    assert message.content == "学费是多少？"


LAUGH = "&lol{};"
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{level} "{LAUGH.format(level - 1) * 10}">' for level in range(1, 10))
    + "]><xml><ToUserName>gh_cqmu</ToUserName><FromUserName>oStudent42</FromUserName>"
    "<CreateTime>1699999990</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content></xml>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>gh_cqmu</ToUserName><FromUserName>oStudent42</FromUserName>"
    "<CreateTime>1699999990</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content></xml>"
)
PARAMETER_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>'
    "<xml><ToUserName>gh_cqmu</ToUserName></xml>"
)
HARMLESS_DOCTYPE = "<!DOCTYPE xml>" + TEXT_XML


@pytest.mark.parametrize(
    "body",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, PARAMETER_ENTITY, HARMLESS_DOCTYPE],
    ids=["billion-laughs", "external-entity", "parameter-entity", "doctype"],
)
def test_dtds_and_entities_are_refused(plain_settings: WeChatSettings, body: str) -> None:
    with pytest.raises(MalformedMessage):
        open_request(plain_settings, signed_params(), body.encode(), NOW)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"hello world",
        b'{"ToUserName": "gh_cqmu"}',
        b"<xml>",
        b"<xml><Content></MsgType></xml>",
        b"\xff\xfe\x00<\x00x",
        b'<?xml version="1.0" encoding="gbk"?><xml/>',
        b'<?xml version="1.0" encoding="bogus"?><xml/>',
        "<xml>\ud800</xml>".encode("utf-8", "surrogatepass"),
        TEXT_XML.replace("<xml>", "<message>").replace("</xml>", "</message>").encode(),
    ],
    ids=[
        "empty",
        "text",
        "json",
        "unclosed",
        "mismatched",
        "utf16",
        "gbk",
        "bogus-encoding",
        "surrogate",
        "root",
    ],
)
def test_non_xml_bodies_are_malformed(plain_settings: WeChatSettings, body: bytes) -> None:
    with pytest.raises(MalformedMessage):
        open_request(plain_settings, signed_params(), body, NOW)


@pytest.mark.parametrize(
    "xml",
    [
        TEXT_XML.replace("<Content><![CDATA[学费是多少？]]></Content>", ""),
        TEXT_XML.replace("<FromUserName><![CDATA[oStudent42]]></FromUserName>", ""),
        TEXT_XML.replace("<ToUserName><![CDATA[gh_cqmu]]></ToUserName>", "<ToUserName></ToUserName>"),
        TEXT_XML.replace("<MsgType><![CDATA[text]]></MsgType>", ""),
        TEXT_XML.replace("1699999990", "yesterday"),
        MESSAGE_SAMPLES[-1].values[0].replace("<Event><![CDATA[LOCATION]]></Event>", ""),
    ],
    ids=[
        "text-without-content",
        "no-sender",
        "empty-recipient",
        "no-type",
        "bad-create-time",
        "event-no-event",
    ],
)
def test_missing_fields_are_malformed(plain_settings: WeChatSettings, xml: str) -> None:
    with pytest.raises(MalformedMessage):
        open_request(plain_settings, signed_params(), xml.encode(), NOW)


# --- safe mode -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["hi", "学费是多少？", "😀" * 300, "x" * 4000])
def test_safe_mode_request_from_wechatpy_is_opened(
    safe_settings: WeChatSettings, peer: WeChatCrypto, content: str
) -> None:
    params, body = safe_request(peer, TEXT_XML.replace("学费是多少？", content))
    message, encrypted = open_request(safe_settings, params, body, NOW)
    assert encrypted
    assert (message.content, message.from_user) == (content, "oStudent42")


def test_safe_mode_body_in_wechats_own_shape_is_opened(
    safe_settings: WeChatSettings, peer: WeChatCrypto
) -> None:
    encrypted = envelope_fields(peer.encrypt_message(TEXT_XML, NONCE, TIMESTAMP))["Encrypt"]
    params, body = safe_request_with_ciphertext(encrypted)
    message, _ = open_request(safe_settings, params, body, NOW)
    assert message.msg_id == "24309175123456789"


def test_safe_mode_round_trip_reply_is_accepted_by_wechatpy(
    safe_settings: WeChatSettings, peer: WeChatCrypto
) -> None:
    params, body = safe_request(peer, TEXT_XML)
    message, _ = open_request(safe_settings, params, body, NOW)
    sealed = seal_reply(safe_settings, render_text(message, "学费请见招生简章。", NOW), NOW)
    envelope = envelope_fields(sealed)
    decrypted = peer.decrypt_message(
        sealed, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )
    reply = parse_message(decrypted)
    assert (reply.content, reply.target, reply.source) == ("学费请见招生简章。", "oStudent42", "gh_cqmu")


def test_plain_request_is_refused_in_safe_mode_the_default_with_an_aes_key(
    safe_settings: WeChatSettings,
) -> None:
    with pytest.raises(PlaintextRefused):
        open_request(safe_settings, signed_params(), TEXT_XML.encode(), NOW)


def test_plain_request_is_accepted_in_compatible_mode() -> None:
    settings = WeChatSettings(token=TOKEN, aes_key=AES_KEY, app_id=APP_ID, mode="compatible")
    message, encrypted = open_request(settings, signed_params(), TEXT_XML.encode(), NOW)
    assert (message.msg_type, encrypted) == ("text", False)


def test_message_for_another_app_id_is_refused(safe_settings: WeChatSettings) -> None:
    stranger = WeChatCrypto(TOKEN, AES_KEY, "wx0000000000000000")
    params, body = safe_request(stranger, TEXT_XML)
    with pytest.raises(DecryptionFailed):
        open_request(safe_settings, params, body, NOW)


def _flip_bit_under_last_block(ciphertext: bytes) -> bytes:
    """Flip a bit in the next-to-last block, which CBC carries into the padding or AppID of the last one."""
    return ciphertext[:-20] + bytes([ciphertext[-20] ^ 0x01]) + ciphertext[-19:]


@pytest.mark.parametrize(
    "tamper",
    [_flip_bit_under_last_block, lambda ciphertext: ciphertext[:-16], lambda ciphertext: ciphertext[:-5]],
    ids=["bit-flip-near-end", "block-dropped", "truncated-mid-block"],
)
def test_tampered_ciphertext_is_refused(safe_settings: WeChatSettings, peer: WeChatCrypto, tamper) -> None:
    original = envelope_fields(peer.encrypt_message(TEXT_XML, NONCE, TIMESTAMP))["Encrypt"]
    tampered = base64.b64encode(tamper(base64.b64decode(original))).decode()
    params, body = safe_request_with_ciphertext(tampered)
    with pytest.raises(DecryptionFailed):
        open_request(safe_settings, params, body, NOW)


@pytest.mark.parametrize("encrypted", ["%%%not-base64%%%", "QUJD", "QUJDRA=", "密文密文"])
def test_bad_base64_is_refused(safe_settings: WeChatSettings, encrypted: str) -> None:
    params, body = safe_request_with_ciphertext(encrypted)
    with pytest.raises(DecryptionFailed):
        open_request(safe_settings, params, body, NOW)


@pytest.mark.parametrize("msg_signature", [None, "", "0" * 40, wechat_signature(TOKEN, TIMESTAMP, NONCE)])
def test_safe_mode_rejects_bad_msg_signature(
    safe_settings: WeChatSettings, peer: WeChatCrypto, msg_signature: str | None
) -> None:
    params, body = safe_request(peer, TEXT_XML)
    del params["msg_signature"]
    if msg_signature is not None:
        params["msg_signature"] = msg_signature
    with pytest.raises(BadSignature):
        open_request(safe_settings, params, body, NOW)


def test_safe_mode_body_without_encrypt_is_malformed(safe_settings: WeChatSettings) -> None:
    params = signed_params(encrypt_type="aes", msg_signature="0" * 40)
    with pytest.raises(MalformedMessage):
        open_request(safe_settings, params, TEXT_XML.encode(), NOW)


def test_encrypted_request_without_configured_key_is_refused(
    plain_settings: WeChatSettings, peer: WeChatCrypto
) -> None:
    params, body = safe_request(peer, TEXT_XML)
    with pytest.raises(DecryptionFailed):
        open_request(plain_settings, params, body, NOW)


def test_encrypted_billion_laughs_is_refused(safe_settings: WeChatSettings, peer: WeChatCrypto) -> None:
    params, body = safe_request(peer, BILLION_LAUGHS)
    with pytest.raises(MalformedMessage):
        open_request(safe_settings, params, body, NOW)


@pytest.mark.parametrize("length", [0, 1, 25, 26, 27, 57, 58, 1000])
def test_crypto_decrypts_wechatpy_ciphertext_at_every_padding(peer: WeChatCrypto, length: int) -> None:
    encrypted = PrpCrypto(peer.key).encrypt("x" * length, APP_ID).decode()
    assert wechat_crypto.decrypt(peer.key, APP_ID, encrypted) == b"x" * length


@pytest.mark.parametrize("length", [0, 1, 25, 26, 27, 57, 58, 1000])
def test_crypto_output_is_decrypted_by_wechatpy_at_every_padding(peer: WeChatCrypto, length: int) -> None:
    encrypted = wechat_crypto.encrypt(peer.key, APP_ID, b"x" * length)
    assert PrpCrypto(peer.key).decrypt(encrypted, APP_ID) == "x" * length


def test_seal_reply_envelope_is_signed_with_given_nonce_and_time(
    safe_settings: WeChatSettings, peer: WeChatCrypto
) -> None:
    envelope = envelope_fields(seal_reply(safe_settings, "<xml/>", NOW, nonce="424242"))
    expected_signature = wechat_signature(TOKEN, TIMESTAMP, "424242", envelope["Encrypt"])
    assert (envelope["TimeStamp"], envelope["Nonce"], envelope["MsgSignature"]) == (
        TIMESTAMP,
        "424242",
        expected_signature,
    )


def test_seal_reply_generates_a_usable_nonce(safe_settings: WeChatSettings, peer: WeChatCrypto) -> None:
    sealed = seal_reply(safe_settings, "<xml/>", NOW)
    envelope = envelope_fields(sealed)
    assert peer.decrypt_message(sealed, envelope["MsgSignature"], TIMESTAMP, envelope["Nonce"]) == "<xml/>"


def test_seal_reply_needs_safe_mode_settings(plain_settings: WeChatSettings) -> None:
    with pytest.raises(ValueError):
        seal_reply(plain_settings, "<xml/>", NOW)


# --- passive replies -----------------------------------------------------------------------------------


def test_text_reply_swaps_users(text_message: IncomingMessage) -> None:
    reply = parse_message(render_text(text_message, "Hello", NOW))
    assert (reply.target, reply.source, reply.time, reply.type) == ("oStudent42", "gh_cqmu", int(NOW), "text")


def test_text_reply_matches_wechatpy_text_reply(text_message: IncomingMessage) -> None:
    ours = ElementTree.fromstring(render_text(text_message, "学费 tuition", NOW))
    theirs = ElementTree.fromstring(
        TextReply(source="gh_cqmu", target="oStudent42", content="学费 tuition", time=int(NOW)).render()
    )
    assert {child.tag: child.text for child in ours} == {child.tag: child.text for child in theirs}


def test_transfer_reply_matches_wechatpy(text_message: IncomingMessage) -> None:
    ours = ElementTree.fromstring(render_transfer(text_message, NOW))
    theirs = ElementTree.fromstring(
        TransferCustomerServiceReply(source="gh_cqmu", target="oStudent42", time=int(NOW)).render()
    )
    assert {child.tag: child.text for child in ours} == {child.tag: child.text for child in theirs}


@pytest.mark.parametrize(
    "content",
    [
        "a]]>b",
        "]]>",
        "]]]]>>",
        "x]]></Content><MsgType><![CDATA[news]]></MsgType><Content><![CDATA[y",
        "<b>&amp; not markup</b>",
    ],
)
def test_content_cannot_break_out_of_cdata(text_message: IncomingMessage, content: str) -> None:
    reply = parse_message(render_text(text_message, content, NOW))
    assert (reply.content, reply.type) == (content, "text")


def test_characters_xml_cannot_carry_are_dropped(text_message: IncomingMessage) -> None:
    reply = parse_message(render_text(text_message, "bell\x07 null\x00 ok\ufffe", NOW))
    assert reply.content == "bell null ok"


@pytest.mark.parametrize("content", ["", "   \n"])
def test_blank_text_reply_is_refused(text_message: IncomingMessage, content: str) -> None:
    with pytest.raises(ValueError):
        render_text(text_message, content, NOW)


def test_text_reply_at_the_byte_limit_is_accepted(text_message: IncomingMessage) -> None:
    content = "学" * 682 + "a"
    assert len(content.encode()) == MAX_CONTENT_BYTES
    assert parse_message(render_text(text_message, content, NOW)).content == content


def test_text_reply_over_the_byte_limit_is_refused(text_message: IncomingMessage) -> None:
    with pytest.raises(ValueError):
        render_text(text_message, "学" * 683, NOW)


# --- split_reply ---------------------------------------------------------------------------------------


def assert_valid_split(text: str, parts: list[str], limit: int) -> None:
    """Each part fits and is non-blank, and together they keep every visible character in order."""
    assert all(len(part.encode("utf-8")) <= limit for part in parts)
    assert all(part and part == part.strip() for part in parts)
    assert "".join(ch for ch in "".join(parts) if not ch.isspace()) == "".join(
        ch for ch in text if not ch.isspace()
    )


LONG_ENGLISH = (
    "The Clinical Medicine programme is taught in English. Students spend their first years in Chongqing! "
    "Do you have questions? Please write to the International Medical College, and we will reply.\n"
) * 40
LONG_CHINESE = (
    "临床医学专业采用全英文授课。学生前几年在重庆学习！还有问题吗？请联系国际医学院，我们会尽快回复。\n" * 40
)
EMOJI_TEXT = "Welcome 👋🏽 to CQMU 🇨🇳🇬🇧! 👨‍👩‍👧‍👦 Family day 🎉🎉🎉. " * 60
NO_BREAKS = "无标点的长文本" * 400


@pytest.mark.parametrize(
    "text",
    [LONG_ENGLISH, LONG_CHINESE, EMOJI_TEXT, NO_BREAKS],
    ids=["english", "chinese", "emoji", "no-breaks"],
)
@pytest.mark.parametrize("limit", [MAX_CONTENT_BYTES, 300, 40, 4])
def test_split_parts_fit_and_keep_the_text(text: str, limit: int) -> None:
    assert_valid_split(text, split_reply(text, limit), limit)


@settings(deadline=None, max_examples=300, database=None)
@given(text=st.text(max_size=400), limit=st.integers(min_value=4, max_value=64))
def test_split_invariants_hold_for_any_text(text: str, limit: int) -> None:
    assert_valid_split(text, split_reply(text, limit), limit)


def test_short_text_is_one_part() -> None:
    assert split_reply("学费是多少？ How much?") == ["学费是多少？ How much?"]


def test_blank_text_gives_no_parts() -> None:
    assert split_reply(" \n\t ") == []


def test_split_prefers_sentence_ends() -> None:
    assert split_reply("第一句话。第二句话！第三句话？", limit=18) == [
        "第一句话。",
        "第二句话！",
        "第三句话？",
    ]


def test_split_falls_back_to_clauses() -> None:
    assert split_reply("甲乙丙，丁戊己；庚辛壬", limit=15) == ["甲乙丙，", "丁戊己；", "庚辛壬"]


def test_split_falls_back_to_words_in_english() -> None:
    assert split_reply("First sentence. Second sentence is here.", limit=20) == [
        "First sentence.",
        "Second sentence is",
        "here.",
    ]


def test_split_does_not_break_domains_or_decimals() -> None:
    parts = split_reply("Visit www.cqmu.edu.cn today for version 3.5 news", limit=20)
    assert "www.cqmu.edu.cn" in parts
    assert any("3.5" in part for part in parts)


def test_split_hard_cuts_at_character_boundaries() -> None:
    assert split_reply("中文字符测试", limit=7) == ["中文", "字符", "测试"]


@pytest.mark.parametrize(
    ("cluster", "limit"),
    [("👨‍👩‍👧", 30), ("🇨🇳", 12), ("👋🏽", 12), ("e\u0301", 5)],
    ids=["zwj-family", "flag", "skin-tone", "combining-accent"],
)
def test_split_keeps_grapheme_clusters_whole(cluster: str, limit: int) -> None:
    parts = split_reply(cluster * 20, limit)
    assert all(part == cluster * (len(part) // len(cluster)) for part in parts)


def test_split_rejects_a_limit_below_one_character() -> None:
    with pytest.raises(ValueError):
        split_reply("text", limit=3)
