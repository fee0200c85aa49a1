"""The README documents every route, command-line verb and configuration key, and its two commands."""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.config import Config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _config_keys(cls: type = Config, prefix: str = "") -> list[str]:
    keys = []
    for f in fields(cls):
        default = getattr(cls(), f.name)
        if is_dataclass(default):
            keys += _config_keys(type(default), f"{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


def _cli_verbs() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(sub.choices)


@pytest.mark.parametrize(
    "route",
    [
        "GET /",
        "POST /api/ask",
        "GET /wechat",
        "POST /wechat",
        "GET /healthz",
        "POST /admin/reload",
        "GET /admin/stats",
    ],
)
def test_every_route_is_in_the_readme(route: str) -> None:
    assert f"`{route}`" in README


def test_every_route_of_the_app_is_documented(app) -> None:
    documented = set(re.findall(r"`(?:GET|POST) (/[^`?]*)`", README))
    routes = {rule.rule for rule in app.url_map.iter_rules() if not rule.rule.startswith("/static")}
    assert routes <= documented


@pytest.mark.parametrize("verb", _cli_verbs())
def test_every_cli_verb_is_in_the_readme(verb: str) -> None:
    assert f"python -m bot {verb}" in README


@pytest.mark.parametrize("key", _config_keys())
def test_every_config_key_is_in_the_readme_and_in_config_yaml(key: str) -> None:
    name = key.split(".")[-1]
    assert f"`{name}`" in README or f"`{key}`" in README
    assert re.search(rf"^\s*{name}:", (ROOT / "config.yaml").read_text(encoding="utf-8"), re.MULTILINE)


def test_readme_first_screen_has_the_two_commands() -> None:
    first_screen = "\n".join(README.splitlines()[:30])
    assert "pip install -r requirements.txt && python server.py" in first_screen
    assert "pip install -r requirements-dev.txt && python -m pytest" in first_screen


def test_ci_runs_the_readmes_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install" in ci and "-r requirements-dev.txt" in ci
    assert re.search(r"^python -m pytest$", ci, re.MULTILINE)
