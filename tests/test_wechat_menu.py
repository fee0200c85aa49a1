"""The custom menu: built from config.yaml, sent through wechatpy's client to a local stand-in for WeChat's API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from console_helpers import console_app, console_config, copy_corpus, csrf_of, sign_in
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from bot.cli import main
from bot.config import Config, ConfigError, load_config
from bot.engine import Brain
from bot.wechat_menu import MenuError, build_menu

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_ID, SECRET = "wx49f0ab532d5d035a", "stand-in-app-secret-0001"
KEYS = {"TUITION": "tuition-fee", "CONTACT": "contact"}


class StandIn:
    """WeChat's token and menu endpoints, remembering what they were sent."""

    def __init__(self) -> None:
        self.menu: dict | None = None
        self.token_requests: list[dict] = []
        app = Flask("wechat-stand-in")

        @app.get("/cgi-bin/token")
        def token():
            self.token_requests.append(dict(request.args))
            if request.args.get("secret") != SECRET:
                return jsonify({"errcode": 40001, "errmsg": "invalid credential"})
            return jsonify({"access_token": "token-123", "expires_in": 7200})

        @app.post("/cgi-bin/menu/create")
        def create():
            assert request.args.get("access_token") == "token-123"
            self.menu = json.loads(request.get_data(as_text=True))
            return jsonify({"errcode": 0, "errmsg": "ok"})

        @app.get("/cgi-bin/menu/get")
        def get():
            if self.menu is None:
                return jsonify({"errcode": 46003, "errmsg": "menu no exist"})
            return jsonify({"menu": self.menu})

        self.app = app


@pytest.fixture
def stand_in() -> Iterator[tuple[StandIn, str]]:
    fake = StandIn()
    server = make_server("127.0.0.1", 0, fake.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_port}/cgi-bin/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_menu_follows_wechats_rules() -> None:
    menu = build_menu(
        [
            {"name": "学费", "key": "TUITION"},
            {"name": "更多", "buttons": [{"name": "网站", "url": "https://example.org/"}]},
        ],
        KEYS,
    )
    assert menu == {
        "button": [
            {"type": "click", "name": "学费", "key": "TUITION"},
            {"name": "更多", "sub_button": [{"type": "view", "name": "网站", "url": "https://example.org/"}]},
        ]
    }
    for bad in (
        [{"name": "a", "key": "TUITION"}] * 4,
        [{"name": "学费", "key": "NO-SUCH-KEY"}],
        [{"name": "网站", "url": "javascript:alert(1)"}],
        [{"name": "一个太长太长太长的名字", "key": "TUITION"}],
    ):
        with pytest.raises(MenuError):
            build_menu(bad, KEYS)


def test_a_bad_menu_stops_start_up_naming_the_key(tmp_path: Path) -> None:
    settings = yaml.safe_load((REPO_ROOT / "config.yaml").read_text(encoding="utf-8"))
    settings["wechat"]["menu"] = [{"name": "学费", "key": "UNKNOWN"}]
    file = tmp_path / "config.yaml"
    file.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"wechat\.menu\[0\]"):
        load_config(file, env={})


def test_push_and_show_through_the_command_line(
    stand_in: tuple[StandIn, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, api = stand_in
    monkeypatch.setenv("FAQBOT_WECHAT_SECRET", SECRET)
    monkeypatch.setenv("FAQBOT_WECHAT_APPID", APP_ID)
    config = str(REPO_ROOT / "config.yaml")
    assert main(["--config", config, "wechat-menu", "push", "--api-base", api]) == 0
    assert fake.token_requests[0]["appid"] == APP_ID
    assert [b["key"] for b in fake.menu["button"]] == ["TUITION", "ADMISSIONS", "CONTACT"]
    assert main(["--config", config, "wechat-menu", "show", "--api-base", api]) == 0
    assert capsys.readouterr().out.count('"key": "TUITION"') == 2  # configured, and on WeChat now


def test_a_wrong_secret_is_reported(stand_in: tuple[StandIn, str], monkeypatch: pytest.MonkeyPatch) -> None:
    _, api = stand_in
    monkeypatch.setenv("FAQBOT_WECHAT_SECRET", "wrong")
    monkeypatch.setenv("FAQBOT_WECHAT_APPID", APP_ID)
    assert main(["--config", str(REPO_ROOT / "config.yaml"), "wechat-menu", "push", "--api-base", api]) == 1


def test_the_console_page_publishes_the_menu(
    stand_in: tuple[StandIn, str],
    config: Config,
    brain: Brain,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, api = stand_in
    monkeypatch.setenv("FAQBOT_WECHAT_SECRET", SECRET)
    settings = console_config(config, copy_corpus(tmp_path), f"sqlite:///{tmp_path / 'f.db'}")
    settings = replace(settings, wechat=replace(settings.wechat, app_id=APP_ID))
    app = console_app(settings, brain)
    app.config["WECHAT_API_BASE"] = api
    client = app.test_client()
    sign_in(client)
    page = client.get("/admin/wechat-menu").get_data(as_text=True)
    assert "学费 → tuition-fee" in page
    pushed = client.post("/admin/wechat-menu", data={"csrf": csrf_of(client)})
    app.extensions["faqbot"].storage.close()
    assert pushed.status_code == 200 and 'id="menu-pushed"' in pushed.get_data(as_text=True)
    assert [b["name"] for b in fake.menu["button"]] == ["学费", "招生", "联系我们"]
    assert "wechat menu pushed" in client.get("/admin/audit").get_data(as_text=True)
