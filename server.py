"""HTTP wiring: the Flask application factory, and a development server (`python server.py`)."""

from __future__ import annotations

import argparse
import hmac
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException

from bot.cli import reply_as_dict
from bot.config import Config, load_config
from bot.console import register_console
from bot.engine import FAQBot
from bot.logs import configure_logging
from bot.storage import Storage, StorageError, open_storage
from bot.wechat_channel import WeChatChannel

HERE = Path(__file__).resolve().parent
log = logging.getLogger("faqbot.server")


class ApiError(Exception):
    """A request the API refuses, with the status and the message the client sees."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def create_app(
    config: Config | None = None,
    storage: Storage | None = None,
    clock: Callable[[], float] = time.time,
    bot: FAQBot | None = None,
) -> Flask:
    """Build the app: engine, storage and routes; nothing is created at import time."""
    config = config or load_config(HERE / "config.yaml")
    configure_logging(config.log_level)
    storage = storage if storage is not None else open_storage(config.storage, clock=clock)
    bot = bot or FAQBot(config, storage, clock=clock)
    app = Flask(__name__, static_folder=str(HERE / "static"), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = max(config.server.max_body_bytes, config.wechat.max_body_bytes)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["faqbot"] = bot
    wechat = WeChatChannel(bot, config.wechat, clock=clock)

    def fail(status: int, message: str) -> Response:
        response = jsonify({"error": message})
        response.status_code = status
        return response

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return fail(exc.status, exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if request.path.startswith("/wechat"):
            return Response(exc.description or exc.name, status=exc.code or 400, mimetype="text/plain")
        return fail(exc.code or 400, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return fail(500, "internal error")

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        if not log.isEnabledFor(logging.DEBUG):
            return response  # gunicorn's access log already has a line per request
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        # The path only: WeChat's query string carries signatures and nonces, which do not belong in logs.
        log.debug(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "ms": round(elapsed, 2),
            },
        )
        return response

    @app.get("/")
    def index() -> Response:
        return send_from_directory(app.static_folder or "static", "index.html")

    @app.get("/healthz")
    def healthz() -> Response:
        brain = bot.brain
        try:
            storage_ok = bot.storage.ping()
        except StorageError:
            storage_ok = False
        return jsonify(
            {
                "status": "ok" if bot.last_reload_error is None else "degraded",
                "corpus_loaded": True,
                "entries": len(brain.corpus.entries),
                "corpus_loaded_at": brain.loaded_at,
                "last_reload_error": bot.last_reload_error,
                "storage": bot.storage.kind,
                "storage_ok": storage_ok,
            }
        )

    @app.post("/api/ask")
    def api_ask() -> Response:
        body = _json_body(config.server.max_body_bytes)
        question = _text_field(body, "question", required=True, limit=config.server.max_question_chars)
        session = _text_field(body, "session", required=False, limit=128)
        lang = _text_field(body, "lang", required=False, limit=2)
        if lang and lang not in ("en", "zh"):
            raise ApiError(400, '`lang` must be "en" or "zh"')
        _rate_limit(bot, session or request.remote_addr or "anonymous")
        channel = "web" if request.headers.get("X-Faqbot-Channel") == "web" else "api"
        reply = bot.ask(question, session=session or None, channel=channel, lang=lang or None)
        return jsonify(reply_as_dict(reply))

    @app.route("/wechat", methods=["GET", "POST"])
    def wechat_endpoint() -> Response:
        params = {k: v for k, v in request.args.items()}
        if request.method == "GET":
            status, text = wechat.verify(params)
            return Response(text, status=status, mimetype="text/plain")
        body = request.get_data(cache=False)
        status, text, content_type = wechat.handle(params, body)
        return Response(text, status=status, content_type=content_type)

    @app.post("/admin/reload")
    def admin_reload() -> Response:
        _require_admin(config)
        ok, detail = bot.reload()
        return fail(422, detail) if not ok else jsonify({"reloaded": True, "detail": detail})

    @app.get("/admin/stats")
    def admin_stats() -> Response:
        from bot.reports import usage_stats

        _require_admin(config)
        since = request.args.get("since")
        try:
            return jsonify(usage_stats(bot.storage, since))
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc
        except StorageError as exc:
            raise ApiError(503, f"storage unavailable: {exc}") from exc

    apply_published = register_console(app, bot, config)  # the staff console at /admin
    if config.server.watch_corpus:
        _start_corpus_watcher(bot, config.server.watch_interval, apply_published)
    return app


def _json_body(max_bytes: int) -> dict[str, Any]:
    data = request.get_data()  # raw bytes, also of form bodies; cached for get_json below
    if len(data) > max_bytes:
        raise ApiError(413, f"the body is over {max_bytes} bytes")
    if not request.is_json:
        raise ApiError(415 if data else 400, "send a JSON object with Content-Type: application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, 'the body must be a JSON object such as {"question": "..."}')
    return body


def _text_field(body: dict[str, Any], name: str, required: bool, limit: int) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"`{name}` must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # JSON can escape lone surrogates, which are not text
        raise ApiError(400, f"`{name}` must be valid Unicode text") from exc
    value = value.strip()
    if required and not value:
        raise ApiError(400, f"`{name}` must not be empty")
    if len(value) > limit:
        raise ApiError(400, f"`{name}` is too long ({len(value)} characters; the limit is {limit})")
    return value


def _rate_limit(bot: FAQBot, user: str) -> None:
    if bot.over_rate_limit(user):
        raise ApiError(429, "too many questions in a minute; please wait a moment")


def _require_admin(config: Config) -> None:
    token = config.server.admin_token
    if not token:
        raise ApiError(404, "admin endpoints are off: set FAQBOT_ADMIN_TOKEN to enable them")
    given = request.headers.get("Authorization", "")
    given = given[7:] if given.startswith("Bearer ") else request.headers.get("X-Admin-Token", "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise ApiError(401, "a valid admin token is required (Authorization: Bearer <token>)")


def _start_corpus_watcher(
    bot: FAQBot, interval: float, before: Callable[[], None] = lambda: None
) -> threading.Thread:
    """Poll the corpus files and reload on change; a broken change keeps the old corpus serving.

    `before` runs first each time: it writes a version published on another server into this one's folder.
    """

    def watch() -> None:
        while True:
            time.sleep(interval)
            try:
                before()
                bot.reload_if_changed()
            except OSError as exc:
                log.error("corpus watcher could not read the corpus folder: %s", exc)
            except Exception:  # the watcher must outlive a storage outage
                log.exception("corpus watcher could not apply the published version")

    thread = threading.Thread(target=watch, name="corpus-watcher", daemon=True)
    thread.start()
    return thread


def main() -> None:
    """Development server: python server.py [--config config.yaml] [--host 127.0.0.1] [--port 8000]."""
    parser = argparse.ArgumentParser(description="faqbot development server")
    parser.add_argument("--config", default=str(HERE / "config.yaml"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app = create_app(load_config(args.config))
    app.run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
