"""A long-running server: descriptors stay bounded and storage failures are visible in /healthz."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from live_server import LiveServer, write_config

from bot.wechat import sign

MINI_CORPUS = Path(__file__).resolve().parent / "data" / "mini_corpus"
REQUESTS = 2000
TOKEN = "long-run-token"
FILE_LIMIT = 256


@pytest.fixture
def dev_server(tmp_path: Path):
    config = write_config(
        tmp_path / "config.yaml",
        MINI_CORPUS,
        f"sqlite:///{tmp_path / 'faqbot.db'}",
        server={"watch_corpus": False, "rate_limit_per_minute": 0, "rate_limit_per_address": 0},
    )
    server = LiveServer.development(
        config, tmp_path, max_files=FILE_LIMIT, env={"FAQBOT_WECHAT_TOKEN": TOKEN}
    )
    yield server
    server.stop()


def test_development_server_keeps_descriptors_flat_over_2000_requests(dev_server: LiveServer) -> None:
    """python server.py starts a thread per connection; none of them may leave a descriptor behind."""
    statuses: dict[int, int] = {}
    baseline = 0
    for number in range(REQUESTS):
        if number % 4 == 0:
            status = dev_server.request("GET", "/")[0]
        else:
            status, _ = dev_server.ask("学费多少", session=f"visitor-{number}")
        statuses[status] = statuses.get(status, 0) + 1
        if number == 100:
            baseline = dev_server.open_files()
    assert statuses == {200: REQUESTS}
    assert dev_server.open_files() <= baseline + 8
    health = json.loads(dev_server.request("GET", "/healthz")[1])
    assert health["status"] == "ok"


def test_a_chunked_body_over_the_limit_is_refused(dev_server: LiveServer) -> None:
    """Without Content-Length the body is still bounded: 413, not a truncated question answered."""
    body = b'{"question": "' + b"x" * 70_000 + b'"}'
    connection = http.client.HTTPConnection("127.0.0.1", dev_server.port, timeout=30)
    try:
        connection.request(
            "POST",
            "/api/ask",
            body=iter([body[i : i + 4096] for i in range(0, len(body), 4096)]),
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        assert connection.getresponse().status == 413
    finally:
        connection.close()


def test_log_lines_are_json_without_signatures_nonces_or_openids(dev_server: LiveServer) -> None:
    timestamp, nonce, openid = str(int(time.time())), "8305517206", "oPrivateOpenId0042"
    signature = sign(TOKEN, timestamp, nonce)
    query = urlencode({"signature": signature, "timestamp": timestamp, "nonce": nonce, "openid": openid})
    message = (
        f"<xml><ToUserName>gh_x</ToUserName><FromUserName>{openid}</FromUserName>"
        f"<CreateTime>{timestamp}</CreateTime><MsgType>text</MsgType><Content>学费多少</Content>"
        "<MsgId>1</MsgId></xml>"
    )
    assert dev_server.request("POST", f"/wechat?{query}", message.encode())[0] == 200
    assert dev_server.request("POST", f"/wechat?{query}", message.replace(">1<", ">2<").encode())[0] == 403
    dev_server.request("GET", '/odd\\path"with-quotes')

    lines = [line for line in dev_server.log().splitlines() if line.strip()]
    # Every log line is a JSON record (the development server's start-up banner aside).
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(record.get("path") == '/odd\\path"with-quotes' for record in records)
    for secret in (signature, nonce, openid):
        assert not any(secret in line for line in lines)
