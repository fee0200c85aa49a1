"""The Official Account's custom menu: built from config.yaml's `wechat.menu` and sent through wechatpy's client.

Once the server URL is enabled in the Official Account console, its own menu editor stops working; the menu
can then only be set through the WeChat API, which this module does (`python -m bot wechat-menu show|push`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

SECRET_VARIABLE = "FAQBOT_WECHAT_SECRET"
MAX_BUTTONS, MAX_SUB_BUTTONS = 3, 5
MAX_NAME_BYTES, MAX_SUB_NAME_BYTES = 16, 60


class MenuError(ValueError):
    """The configured menu breaks one of WeChat's rules; the message names the button."""


def build_menu(buttons: Sequence[Any], menu_keys: Mapping[str, str]) -> dict[str, Any]:
    """The JSON WeChat expects, from `wechat.menu` (name + key | url | buttons), checked against its rules."""
    if not isinstance(buttons, Sequence) or isinstance(buttons, str):
        raise MenuError("wechat.menu: expected a list of buttons")
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise MenuError(f"wechat.menu: a menu has 1 to {MAX_BUTTONS} buttons, this one has {len(buttons)}")
    return {"button": [_button(b, menu_keys, f"wechat.menu[{i}]", top=True) for i, b in enumerate(buttons)]}


def _button(raw: Any, menu_keys: Mapping[str, str], where: str, top: bool) -> dict[str, Any]:
    if not isinstance(raw, Mapping) or not str(raw.get("name") or "").strip():
        raise MenuError(f"{where}: a button needs a `name`")
    name = str(raw["name"]).strip()
    limit = MAX_NAME_BYTES if top else MAX_SUB_NAME_BYTES
    if len(name.encode("utf-8")) > limit:
        raise MenuError(f"{where}: the name {name!r} is over {limit} bytes (WeChat cuts it)")
    kinds = [k for k in ("key", "url", "buttons") if k in raw]
    if len(kinds) != 1 or (kinds == ["buttons"] and not top):
        raise MenuError(
            f"{where}: give exactly one of `key` (an entry), `url` (a link) or, on the top row, `buttons`"
        )
    if kinds == ["buttons"]:
        subs = raw["buttons"]
        if not isinstance(subs, Sequence) or not 1 <= len(subs) <= MAX_SUB_BUTTONS:
            raise MenuError(f"{where}: `buttons` holds 1 to {MAX_SUB_BUTTONS} buttons")
        return {
            "name": name,
            "sub_button": [
                _button(s, menu_keys, f"{where}.buttons[{i}]", top=False) for i, s in enumerate(subs)
            ],
        }
    if kinds == ["key"]:
        key = str(raw["key"])
        if key not in menu_keys:
            raise MenuError(f"{where}: key {key!r} is not in wechat.menu_keys, so no entry would answer it")
        return {"type": "click", "name": name, "key": key}
    url = str(raw["url"])
    if urlsplit(url).scheme not in ("https", "http") or not urlsplit(url).netloc:
        raise MenuError(f"{where}: {url!r} is not a web address")
    return {"type": "view", "name": name, "url": url}


def menu_client(app_id: str, api_base: str | None = None, secret: str | None = None) -> Any:
    """wechatpy's client with the AppSecret from FAQBOT_WECHAT_SECRET; `api_base` points it elsewhere (tests)."""
    from wechatpy import WeChatClient

    secret = secret if secret is not None else os.environ.get(SECRET_VARIABLE, "")
    if not app_id or not secret:
        raise MenuError(
            f"the menu needs wechat.app_id (FAQBOT_WECHAT_APPID) and the AppSecret in {SECRET_VARIABLE}"
        )
    base = api_base or WeChatClient.API_BASE_URL

    class Client(WeChatClient):
        API_BASE_URL = base

        def fetch_access_token(self) -> dict:
            return self._fetch_access_token(
                url=f"{base}token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            )

    return Client(app_id, secret)


def push_menu(client: Any, menu: dict[str, Any]) -> None:
    """Replace the account's menu (WeChat shows it to followers within minutes)."""
    client.menu.create(menu)


def current_menu(client: Any) -> dict[str, Any]:
    """The menu WeChat has now (empty when none is set)."""
    from wechatpy.exceptions import WeChatClientException

    try:
        return client.menu.get().get("menu", {})
    except WeChatClientException as exc:
        if exc.errcode == 46003:  # no menu yet
            return {}
        raise


def cmd_wechat_menu(args: Any) -> int:
    """`show`: the configured menu and WeChat's current one; `push`: send the configured menu."""
    import json
    import sys

    config = args.config_of(args)
    try:
        menu = build_menu(config.wechat.menu, config.wechat.menu_keys)
        if args.action == "check":
            print(json.dumps(menu, ensure_ascii=False, indent=2))
            return 0
        client = menu_client(config.wechat.app_id, args.api_base)
        if args.action == "push":
            push_menu(client, menu)
            print(f"menu sent: {len(menu['button'])} buttons")
            return 0
        print("configured:\n" + json.dumps(menu, ensure_ascii=False, indent=2))
        print("on WeChat now:\n" + json.dumps(current_menu(client), ensure_ascii=False, indent=2))
        return 0
    except MenuError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # wechatpy raises its own errors and requests' for the network
        print(f"error: WeChat refused or could not be reached: {exc}", file=sys.stderr)
        return 1


def add_menu_commands(sub: Any, config_of: Any) -> None:
    """`wechat-menu check|show|push`."""
    menu = sub.add_parser("wechat-menu", help="the Official Account's custom menu from config.yaml")
    menu.add_argument("action", choices=["check", "show", "push"])
    menu.add_argument("--api-base", help="WeChat API address (default: the real one; tests use a stand-in)")
    menu.set_defaults(func=cmd_wechat_menu, config_of=config_of)
