"""The console's HTTP layer: a Flask blueprint at /admin; the work itself is in service.py and corpus_writer.py."""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.security import check_password_hash, generate_password_hash

from bot.config import Config
from bot.console.charts import bar_chart, line_chart
from bot.console.i18n import LANGS, translate
from bot.console.service import (
    CHARACTER_LIMIT,
    Console,
    DraftConflict,
    apply_published,
    group_id,
)
from bot.console.store import ConsoleStore, ConsoleStoreError, open_console_store
from bot.corpus import _KEBAB
from bot.corpus_writer import (
    CorpusEditError,
    add_alternate,
    add_eval_item,
    entry_as_form,
    entry_files,
    relabel_eval_item,
    remove_out_of_scope_terms,
    save_entry,
)
from bot.engine import FAQBot

log = logging.getLogger("faqbot.console")
COOKIE = "faqbot_console"
PRE_COOKIE = "faqbot_console_pre"
LANG_COOKIE = "faqbot_console_lang"
HERE = Path(__file__).resolve().parent
# Checked when the name is unknown, so a wrong name takes as long as a wrong password.
DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16), method="scrypt")
OPEN_ENDPOINTS = {"console.sign_in", "console.static", "console.language"}

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/admin",
    template_folder=str(HERE / "templates"),
    static_folder=str(HERE / "static"),
    static_url_path="/console-static",
)


def register_console(app: Flask, bot: FAQBot, config: Config) -> Callable[[], None]:
    """Mount the console on the app; returns the hook the corpus watcher calls to apply newer versions."""
    store = open_console_store(config.storage, clock=bot.clock)
    app.extensions["faqbot_console"] = Console(bot, store, clock=bot.clock)
    app.register_blueprint(bp)

    failing: list[str] = []

    def apply_newer_version() -> None:
        try:
            apply_published(store, Path(config.corpus_dir))
            failing.clear()
        except ConsoleStoreError as exc:
            if not failing:  # once per outage, not every few seconds
                log.error("cannot check for a newer published corpus: %s", exc)
            failing[:] = [str(exc)]

    app.extensions["faqbot_console_watch"] = apply_newer_version
    return apply_newer_version


def console() -> Console:
    from flask import current_app

    return current_app.extensions["faqbot_console"]


def store() -> ConsoleStore:
    return console().store


# --- sign-in, sessions, CSRF ---
@bp.before_request
def load_staff() -> Response | None:
    g.lang = _language()
    token = request.cookies.get(COOKIE, "")
    session = store().session(token) if token else None
    account = store().account(session["name"]) if session else None
    g.staff, g.csrf, g.token = (account, session["csrf"], token) if account else (None, "", "")
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if g.staff is None:
        if request.method == "GET":
            return redirect(url_for("console.sign_in", next=request.path))
        abort(401, "sign in first")
    if request.method == "POST":
        given = request.headers.get("X-CSRF-Token") or request.form.get("csrf", "")
        if not given or not hmac.compare_digest(given, g.csrf):
            abort(403, "the form is out of date or was not sent by the console (CSRF check failed)")
    return None


def editor_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Views that change the draft or the live corpus: editors only."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.staff["role"] != "editor":
            abort(403, translate("forbidden", g.lang))
        return view(*args, **kwargs)

    return wrapped


def _language() -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGS:
        return chosen
    best = request.accept_languages.best_match(["en", "zh"])
    return best or "en"


def _secure() -> bool:
    return request.is_secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def _user() -> str:
    return g.staff["name"] if g.get("staff") else ""


@bp.app_context_processor
def template_helpers() -> dict[str, Any]:
    lang = g.get("lang", "en")
    return {
        "t": lambda key: translate(key, lang),
        "lang": lang,
        "staff": g.get("staff"),
        "csrf": g.get("csrf", ""),
        "when": lambda epoch: time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch)),
    }


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    message = ""
    pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(16)
    if request.method == "POST":
        given = request.form.get("csrf", "")
        if not hmac.compare_digest(given, request.cookies.get(PRE_COOKIE, "") or "-"):
            abort(403, "the sign-in form is out of date; reload the page")
        name = request.form.get("name", "").strip()
        password = request.form.get("password", "")
        account = store().account(name)
        if store().locked(name):
            message = "locked"
            store().audit(name, "sign-in refused (locked)")
        elif check_password_hash(account["hash"] if account else DUMMY_HASH, password) and account:
            store().clear_failures(name)
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            store().open_session(token, name, csrf)
            store().audit(name, "sign-in")
            target = request.args.get("next", "")
            if not target.startswith("/admin") or target.startswith("//"):
                target = url_for("console.dashboard")
            response = redirect(target)
            response.set_cookie(COOKIE, token, httponly=True, samesite="Lax", secure=_secure(), path="/admin")
            response.delete_cookie(PRE_COOKIE, path="/admin")
            return response
        else:
            failures = store().failed_sign_in(name)
            store().audit(name, "sign-in failed", f"{failures} in a row")
            message = "locked" if store().locked(name) else "bad_sign_in"
    response = Response(render_template("sign_in.html", message=message, pre=pre), 401 if message else 200)
    response.set_cookie(PRE_COOKIE, pre, httponly=True, samesite="Lax", secure=_secure(), path="/admin")
    return response


@bp.post("/sign-out")
def sign_out() -> Response:
    store().close_session(g.token)
    store().audit(_user(), "sign-out")
    response = redirect(url_for("console.sign_in"))
    response.delete_cookie(COOKIE, path="/admin")
    return response


@bp.get("/language/<lang>")
def language(lang: str) -> Response:
    if lang not in LANGS:
        abort(404)
    target = request.args.get("next", "")
    response = redirect(target if target.startswith("/admin") else url_for("console.dashboard"))
    response.set_cookie(LANG_COOKIE, lang, samesite="Lax", secure=_secure(), path="/admin", max_age=31536000)
    return response


@bp.errorhandler(ConsoleStoreError)
def store_down(exc: ConsoleStoreError) -> tuple[str, int]:
    return f"the console's storage is unavailable: {exc}", 503


@bp.errorhandler(DraftConflict)
def draft_moved_on(exc: DraftConflict) -> tuple[str, int]:
    return _conflict_text(exc), 409


def _conflict_text(exc: DraftConflict) -> str:
    return translate("draft_conflict", g.lang).format(user=exc.user, when=exc.when)


def _seen_revision() -> int | None:
    """The draft revision the editor's page showed (None when the form does not say)."""
    value = request.form.get("revision", "")
    return int(value) if value.isdigit() else None


# --- dashboard ---
@bp.get("/")
def dashboard() -> str:
    days = request.args.get("days", "30")
    days_n = int(days) if days in ("7", "30", "90", "365") else 30
    since = time.time() - days_n * 86400
    records = console().bot.storage.questions(since=since)
    per_day: dict[str, Counter[str]] = {}
    for r in records:
        per_day.setdefault(time.strftime("%Y-%m-%d", time.gmtime(r.time)), Counter()).update(
            [f"lang:{r.lang}", f"channel:{r.channel}", f"outcome:{r.outcome}", "total"]
        )
    labels = sorted(per_day)
    totals = [per_day[d]["total"] for d in labels]
    rates = {
        translate(outcome, g.lang): [per_day[d][f"outcome:{outcome}"] / per_day[d]["total"] for d in labels]
        for outcome in ("answered", "suggested", "declined")
    }
    top_entries = Counter(r.faq_id for r in records if r.faq_id).most_common(10)
    groups = console().inbox(since=since)[:10]
    return render_template(
        "dashboard.html",
        days=days_n,
        labels=labels,
        per_day=per_day,
        total=len(records),
        chart_days=bar_chart(labels, totals, translate("questions_per_day", g.lang)),
        chart_rates=line_chart(labels, rates, translate("outcome_rates", g.lang)),
        langs=Counter(r.lang for r in records),
        channels=Counter(r.channel for r in records),
        top_entries=top_entries,
        groups=sorted(groups, key=lambda grp: -grp.count),
    )


# --- entries ---
@bp.get("/entries")
def entries() -> str:
    query = request.args.get("q", "").strip()
    files = console().draft_files()
    brain = console().draft_brain(files) if not console().check(files).errors else console().bot.brain
    needle = query.casefold()
    rows = [
        e
        for e in brain.corpus.entries
        if not needle
        or needle in e.id
        or any(needle in text.casefold() for text, _ in e.phrasings())
        or any(needle in a.casefold() for a in e.answer.values())
    ]
    return render_template("entries.html", rows=rows, query=query, has_draft=console().has_draft())


def _lines(name: str) -> list[str]:
    return [line.strip() for line in request.form.get(name, "").splitlines() if line.strip()]


def _form_from_request() -> dict[str, Any]:
    return {
        "id": request.form.get("id", "").strip(),
        "file": request.form.get("file", ""),
        "category": request.form.get("category", "").strip(),
        "source": request.form.get("source", "").strip(),
        "question": {lang: request.form.get(f"question_{lang}", "") for lang in LANGS},
        "answer": {lang: request.form.get(f"answer_{lang}", "") for lang in LANGS},
        "alternates": {lang: _lines(f"alternates_{lang}") for lang in LANGS},
        "keywords": {lang: _lines(f"keywords_{lang}") for lang in LANGS},
        "related": _lines("related"),
        "variants": request.form.get("variants", ""),
    }


def _blank_form() -> dict[str, Any]:
    text, lang = request.args.get("from", "").strip(), request.args.get("lang", "en")
    return {
        "id": "",
        "file": "",
        "category": "",
        "source": "",
        "question": {lg: text if lg == lang else "" for lg in LANGS},
        "answer": {lg: "" for lg in LANGS},
        "alternates": {lg: [] for lg in LANGS},
        "keywords": {lg: [] for lg in LANGS},
        "related": [],
        "variants": "",
    }


def _render_entry(form: dict[str, Any], original: str | None, status: int = 200, **extra: Any) -> Any:
    files, revision = console().draft_state()
    problems = console().check(files).for_entry(form["id"]) if form["id"] else []
    by_field: dict[str, list] = {}
    for p in problems:
        by_field.setdefault(f"{p.field}_{p.lang}" if p.lang else str(p.field), []).append(p)
    lengths = {lang: len(form["answer"][lang]) for lang in LANGS}
    page = render_template(
        "entry.html",
        form=form,
        original=original,
        problems=problems,
        by_field=by_field,
        lengths=lengths,
        limits=CHARACTER_LIMIT,
        files=entry_files(files),
        revision=revision,
        **extra,
    )
    return page, status


@bp.get("/entries/new")
def new_entry() -> Any:
    return _render_entry(_blank_form(), None)


@bp.get("/entries/<entry_id>")
def entry(entry_id: str) -> Any:
    form = entry_as_form(console().draft_files(), entry_id)
    if form is None:
        abort(404, f"no entry {entry_id!r} in the draft")
    return _render_entry(form, entry_id)


@bp.post("/entries/new")
@bp.post("/entries/<entry_id>")
@editor_only
def save(entry_id: str | None = None) -> Any:
    form = _form_from_request()
    files = console().draft_files()
    if not _KEBAB.match(form["id"]):
        return _render_entry(form, entry_id, 422, form_error="id: use lower-case words joined by hyphens")
    if entry_id is None and not form["source"]:
        return _render_entry(form, entry_id, 422, form_error=translate("source_needed", g.lang))
    if form["id"] != entry_id and entry_as_form(files, form["id"]) is not None:
        return _render_entry(form, entry_id, 422, form_error=f"id: {form['id']!r} is already used")
    try:
        console().edit_draft(
            lambda draft: save_entry(draft, form, entry_id, form.get("file", "")),
            _user(),
            f"entry {form['id']}",
            seen=_seen_revision(),
        )
    except CorpusEditError as exc:
        return _render_entry(form, entry_id, 422, form_error=str(exc))
    except DraftConflict as exc:
        return _render_entry(form, entry_id, 409, form_error=_conflict_text(exc))
    return redirect(url_for("console.entry", entry_id=form["id"], saved=1))


@bp.post("/entries/<entry_id>/unlist")
@editor_only
def unlist(entry_id: str) -> Response:
    terms = request.form.getlist("term")
    console().edit_draft(
        lambda draft: remove_out_of_scope_terms(draft, terms),
        _user(),
        "out_of_scope.yaml: took off " + ", ".join(terms),
    )
    return redirect(url_for("console.entry", entry_id=entry_id, saved=1))


@bp.post("/api/alternate")
@editor_only
def api_alternate() -> Response:
    body = request.get_json(silent=True) or {}
    entry_id, lang, text = str(body.get("entry", "")), str(body.get("lang", "")), str(body.get("text", ""))
    if lang not in LANGS or not text.strip():
        abort(400, "send entry, lang (en or zh) and text")
    try:
        console().edit_draft(
            lambda draft: add_alternate(draft, entry_id, lang, text),
            _user(),
            f"entry {entry_id}: alternate {text!r}",
        )
    except CorpusEditError as exc:
        abort(404, str(exc))
    return jsonify({"saved": True})


# --- try it ---
@bp.get("/try")
def try_it() -> str:
    question = request.args.get("q", "").strip()[:500]
    draft = live = None
    if question:
        draft, live = console().try_question(question)
    return render_template("try.html", question=question, draft=draft, live=live)


# --- publish ---
@bp.get("/publish")
def publish_page() -> str:
    files, revision = console().draft_state()
    gate = console().gate(files) if console().has_draft() else None
    return render_template(
        "publish.html",
        gate=gate,
        diff=console().draft_diff(),
        stale=console().draft_is_stale(),
        revision=revision,
    )


@bp.post("/publish")
@editor_only
def publish() -> Any:
    note = request.form.get("note", "").strip()[:500]
    if not console().has_draft():
        return redirect(url_for("console.publish_page"))
    files, revision = console().draft_state()
    seen = _seen_revision()
    gate = console().publish(files, _user(), note, revision=revision if seen is None else seen)
    if not gate.passed:
        page = render_template(
            "publish.html",
            gate=gate,
            diff=console().draft_diff(),
            refused=True,
            revision=console().draft_state()[1],
        )
        return page, 409
    return redirect(url_for("console.history", published=1))


@bp.post("/publish/relabel")
@editor_only
def relabel() -> Response:
    ids = [i for i in request.form.get("ids", "").split(",") if i]
    name, question, lang = request.form["set"], request.form["q"], request.form["lang"]
    what = f"{name}: {question!r} relabelled as {','.join(ids) or 'decline'}"
    try:
        console().edit_draft(lambda draft: relabel_eval_item(draft, name, question, lang, ids), _user(), what)
    except CorpusEditError as exc:
        abort(400, str(exc))
    return redirect(url_for("console.publish_page"))


@bp.post("/draft/discard")
@editor_only
def discard() -> Response:
    console().discard_draft(_user())
    return redirect(url_for("console.entries"))


# --- history and audit ---
@bp.get("/history")
def history() -> str:
    return render_template("history.html", versions=store().versions(), latest=store().latest_version())


@bp.get("/history/<int:number>")
def version(number: int) -> str:
    meta = store().version(number)
    if meta is None:
        abort(404)
    return render_template("version.html", version=meta, diff=console().version_diff(number))


@bp.post("/history/<int:number>/rollback")
@editor_only
def rollback(number: int) -> Any:
    files = console().rollback_files(number)
    if files is None:
        abort(404)
    gate = console().publish(files, _user(), f"rollback to version {number}", kind="rollback")
    if not gate.passed:
        return render_template("publish.html", gate=gate, diff="", refused=True), 409
    return redirect(url_for("console.history", published=1))


@bp.get("/audit")
def audit() -> str:
    return render_template("audit.html", rows=store().audit_log())


# --- inbox ---
@bp.get("/inbox")
def inbox() -> str:
    groups = console().inbox()
    entries_by_id = console().bot.brain.corpus.by_id()
    return render_template("inbox.html", groups=groups, group_id=group_id, entries=entries_by_id)


@bp.post("/inbox/<gid>")
@editor_only
def inbox_action(gid: str) -> Response:
    group = next((grp for grp in console().inbox() if group_id(grp.key) == gid), None)
    if group is None:
        abort(404, "that group is no longer in the inbox")
    action = request.form.get("action", "")
    if action == "alternate":
        entry_id = request.form.get("entry", "")

        def add_group(files: dict[str, str]) -> dict[str, str]:
            for text, _ in group.texts.most_common(5):
                files = add_alternate(files, entry_id, _text_lang(text, group.lang), text)
            return files

        console().edit_draft(add_group, _user(), f"inbox: alternates for {entry_id}")
        console().mark_group(group.key, "alternate", _user())
        return redirect(url_for("console.entry", entry_id=entry_id, saved=1))
    if action == "new":
        return redirect(url_for("console.new_entry", **{"from": group.sample, "lang": group.lang}))
    if action in ("out-of-scope", "dismiss"):
        if action == "out-of-scope" and "eval.yaml" in console().draft_files():
            console().edit_draft(
                lambda draft: add_eval_item(draft, "eval.yaml", group.sample, group.lang, [], "oos"),
                _user(),
                f"eval.yaml: {group.sample!r} must be declined",
            )
        console().mark_group(group.key, action, _user())
        return redirect(url_for("console.inbox"))
    abort(400, "unknown action")


def _text_lang(text: str, fallback: str) -> str:
    return "zh" if re.search(r"[\u4e00-\u9fff]", text) else ("en" if text.isascii() else fallback)


# --- WeChat custom menu ---
@bp.get("/wechat-menu")
def wechat_menu() -> str:
    from bot.wechat_menu import MenuError, build_menu

    wechat = console().bot.config.wechat
    try:
        menu, problem = build_menu(wechat.menu, wechat.menu_keys), ""
    except MenuError as exc:
        menu, problem = None, str(exc)
    return render_template("wechat_menu.html", menu=menu, problem=problem, keys=wechat.menu_keys)


@bp.post("/wechat-menu")
@editor_only
def wechat_menu_push() -> Any:
    from flask import current_app

    from bot.wechat_menu import MenuError, build_menu, menu_client, push_menu

    wechat = console().bot.config.wechat
    try:
        menu = build_menu(wechat.menu, wechat.menu_keys)
        push_menu(menu_client(wechat.app_id, current_app.config.get("WECHAT_API_BASE")), menu)
    except MenuError as exc:
        return render_template("wechat_menu.html", menu=None, problem=str(exc), keys=wechat.menu_keys), 422
    except Exception as exc:  # wechatpy's errors and requests' network errors
        log.error("pushing the WeChat menu failed: %s", exc)
        page = render_template("wechat_menu.html", menu=menu, problem=f"WeChat: {exc}", keys=wechat.menu_keys)
        return page, 502
    store().audit(_user(), "wechat menu pushed", f"{len(menu['button'])} buttons")
    return render_template("wechat_menu.html", menu=menu, problem="", keys=wechat.menu_keys, pushed=True)
