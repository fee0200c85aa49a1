"""Helpers for the staff console tests: an app over a copy of faq_corpus, accounts, signing in."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bot.config import Config
from bot.console.accounts import add_account
from bot.console.service import Console
from bot.engine import Brain, FAQBot
from bot.storage import open_storage
from server import create_app

REPO_CORPUS = Path(__file__).resolve().parent.parent / "faq_corpus"
EDITOR, VIEWER = "wang.editor", "zhao.viewer"
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
# An evaluation question (eval.yaml: admissions-quota) that, made a phrasing of its runner-up, is answered wrongly.
WRONG_QUESTION, WRONG_ENTRY, RIGHT_ENTRY = "招生人数", "province-quota", "admissions-quota"


def copy_corpus(folder: Path) -> Path:
    """A writable copy of faq_corpus: tests never change the repository's files."""
    target = folder / "corpus"
    shutil.copytree(REPO_CORPUS, target)
    return target


def console_config(
    config: Config, corpus: Path, storage: str, watch: bool = False, interval: float = 2.0
) -> Config:
    """The repository's configuration over a corpus copy and a storage of the test's own.

    The publish gate runs eval.yaml and holdout.yaml only: it works the same for any list of sets, and the
    larger blind sets of the CI gate would make every publish in these tests several times slower."""
    server = replace(config.server, watch_corpus=watch, watch_interval=interval, admin_token="script-token-9")
    gate = replace(config.eval, sets=("eval.yaml", "holdout.yaml"))
    return replace(config, corpus_dir=corpus, storage=storage, server=server, eval=gate)


def console_app(config: Config, brain: Brain | None = None) -> Flask:
    """The real app with two accounts, an editor and a viewer; `brain` saves building the engine again."""
    storage = open_storage(config.storage)
    bot = FAQBot(config, storage, brain=brain) if brain is not None else None
    app = create_app(config, storage=storage, bot=bot)
    store = console_of(app).store
    add_account(store, EDITOR, PASSWORD, "editor")
    add_account(store, VIEWER, PASSWORD, "viewer")
    return app


def console_of(app: Flask) -> Console:
    return app.extensions["faqbot_console"]


def sign_in(client: FlaskClient, name: str = EDITOR, password: str = PASSWORD) -> TestResponse:
    """Post the sign-in form as a browser would (with the form's CSRF token)."""
    form = client.get("/admin/sign-in")
    token = CSRF.search(form.get_data(as_text=True)).group(1)
    return client.post("/admin/sign-in", data={"csrf": token, "name": name, "password": password})


def csrf_of(client: FlaskClient, path: str = "/admin/") -> str:
    """The signed-in session's CSRF token, read from a page."""
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def ask(client: FlaskClient, question: str) -> dict:
    return client.post("/api/ask", json={"question": question}).get_json()


def entry_form(entry_id: str, question_en: str, question_zh: str, **changes: object) -> dict[str, str]:
    """A complete entry form as the editor page posts it."""
    form = {
        "id": entry_id,
        "file": "college.yaml",
        "category": "college",
        "source": "Admissions office",
        "question_en": question_en,
        "question_zh": question_zh,
        "alternates_en": "\n".join(f"{question_en} ({n})" for n in range(8)),
        "alternates_zh": "\n".join(f"{question_zh}（{n}）" for n in range(8)),
        "answer_en": "An answer long enough to read.",
        "answer_zh": "一个足够长的回答。",
        "keywords_en": "",
        "keywords_zh": "",
        "related": "",
        "variants": "",
    }
    form.update({k: str(v) for k, v in changes.items()})
    return form
