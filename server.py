"""HTTP wiring: the Flask application factory, and a development server (`python server.py`)."""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import WSGIRequestHandler

from bot.api import reply_as_dict
from bot.config import SHIPPED_USER_HASH_SALT, Config, load_config
from bot.console import register_console
from bot.engine import FAQBot
from bot.logs import access_record, configure_logging, log_access
from bot.metrics import CONTENT_TYPE, Metrics
from bot.storage import Storage, StorageError, open_storage
from bot.wechat_channel import WeChatChannel

HERE = Path(__file__).resolve().parent
log = logging.getLogger("faqbot.server")

# The chat page loads its script and style from /static only; nothing may frame it.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
ADMIN_WINDOW_SECONDS = 60
RELOAD_WAIT_LIMIT_SECONDS = 30.0
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s'\":/]+/)+([^\s'\":/]+)")


class ApiError(Exception):
    """A request the API refuses, with the status and the message the client sees."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class OpenedPerProcess:
    """The configured storage, opened on first use in each process.

    gunicorn builds the app once in its master and forks the workers from it (gunicorn.conf.py); a connection
    or thread opened before the fork would be shared by every worker, so each worker opens its own.
    """

    def __init__(self, url: str, clock: Callable[[], float], question_log_days: float = 0) -> None:
        self._url = url
        self._clock = clock
        self._question_log_days = question_log_days
        self._lock = threading.Lock()
        self._pid = 0
        self._storage: Storage | None = None

    def opened(self) -> Storage:
        """This process's storage, opening it on the first call."""
        pid = os.getpid()
        if self._pid != pid or self._storage is None:
            with self._lock:
                if self._pid != pid or self._storage is None:
                    self._storage = open_storage(
                        self._url, clock=self._clock, question_log_days=self._question_log_days
                    )
                    self._pid = pid
        return self._storage

    def __getattr__(self, name: str) -> Any:
        return getattr(self.opened(), name)


def create_app(
    config: Config | None = None,
    storage: Storage | None = None,
    clock: Callable[[], float] = time.time,
    bot: FAQBot | None = None,
) -> Flask:
    """Build the app: engine, storage and routes; nothing is created at import time."""
    config = config or load_config(HERE / "config.yaml")
    configure_logging(config.log_level)
    if config.dialogue.user_hash_salt == SHIPPED_USER_HASH_SALT:
        log.warning("dialogue.user_hash_salt is the shipped default: set FAQBOT_USER_HASH_SALT in production")
    if storage is None:
        storage = OpenedPerProcess(config.storage, clock, config.server.question_log_days)  # type: ignore[assignment]
    bot = bot or FAQBot(config, storage, clock=clock)
    metrics = Metrics(lambda: (len(bot.brain.corpus.entries), bot.brain.loaded_at, bot.last_reload_error))
    bot.observer = metrics
    app = Flask(__name__, static_folder=str(HERE / "static"), static_url_path="/static")
    # Bodies are read by _read_body, which refuses an over-long chunked body too instead of truncating it.
    app.config["MAX_CONTENT_LENGTH"] = None
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if config.server.trusted_proxies:
        # Only behind proxies we run: X-Forwarded-For is believed for that many hops, so the limits below
        # see the client's address rather than the proxy's.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=config.server.trusted_proxies, x_proto=config.server.trusted_proxies
        )
    app.extensions["faqbot"] = bot
    wechat = WeChatChannel(bot, config.wechat, clock=clock)

    def fail(status: int, message: str) -> Response:
        response = jsonify({"error": without_paths(message)})
        response.status_code = status
        return response

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        response = fail(exc.status, exc.message)
        if exc.status == 429:
            response.headers["Retry-After"] = str(ADMIN_WINDOW_SECONDS)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if request.path.startswith("/wechat"):
            return Response(exc.description or exc.name, status=exc.code or 400, mimetype="text/plain")
        return fail(exc.code or 400, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return fail(500, "internal error")

    latency_of: dict[str, Any] = {}  # the histogram child of each route, looked up once (bounded: the routes)

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()
        start_process()

    @app.after_request
    def finish(response: Response) -> Response:
        """Security headers, the latency histogram and (at DEBUG) a log line: one hook, run on every response."""
        headers = response.headers
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        if response.mimetype == "text/html":
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            headers["X-Frame-Options"] = "DENY"
        rule = request.url_rule
        endpoint = rule.rule if rule is not None else "other"
        latency = latency_of.get(endpoint)
        if latency is None:
            latency = latency_of.setdefault(endpoint, metrics.latency.labels(endpoint))
        now = time.perf_counter()
        elapsed = now - g.get("started", now)
        latency.observe(elapsed)
        if log.isEnabledFor(logging.DEBUG):  # otherwise gunicorn's access log already has a line per request
            # The path only: WeChat's query string carries signatures and nonces, which do not belong in logs.
            log.debug(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": round(elapsed * 1000, 2),
                },
            )
        return response

    @app.get("/")
    def index() -> Response:
        return send_from_directory(app.static_folder or "static", "index.html")

    @app.get("/healthz")
    def healthz() -> Response:
        """Public: ok or degraded (200 while the bot can answer); the details only with the admin token."""
        brain = bot.brain
        storage_ok, storage_error = bot.storage_health()
        degraded = bot.last_reload_error is not None or not storage_ok
        can_answer = len(brain.corpus.entries) > 0
        status = "unavailable" if not can_answer else "degraded" if degraded else "ok"
        health: dict[str, Any] = {"status": status}
        if _is_admin(config):
            health |= {
                "corpus_loaded": True,
                "entries": len(brain.corpus.entries),
                "corpus_loaded_at": brain.loaded_at,
                "corpus_generation": bot.generation,
                "last_reload_error": bot.last_reload_error and without_paths(bot.last_reload_error),
                "storage": bot.storage.kind,
                "storage_ok": storage_ok,
                "last_storage_error": storage_error and without_paths(storage_error),
                "workers": bot.worker_reports(),
            }
        response = jsonify(health)
        response.status_code = 200 if can_answer else 503
        return response

    @app.post("/api/ask")
    def api_ask() -> Response:
        body = _json_body(config.server.max_body_bytes)
        if bot.over_rate_limit(_client_address(), "address", config.server.rate_limit_per_address):
            raise ApiError(429, "too many questions from this address in a minute; please wait a moment")
        question = _text_field(body, "question", required=True, limit=config.server.max_question_chars)
        session = _text_field(body, "session", required=False, limit=128)
        lang = _text_field(body, "lang", required=False, limit=2)
        if lang and lang not in ("en", "zh"):
            raise ApiError(400, '`lang` must be "en" or "zh"')
        if session:
            _rate_limit(bot, session)
        channel = "web" if request.headers.get("X-Faqbot-Channel") == "web" else "api"
        reply = bot.ask(question, session=session or None, channel=channel, lang=lang or None)
        return jsonify(reply_as_dict(reply))

    @app.route("/wechat", methods=["GET", "POST"])
    def wechat_endpoint() -> Response:
        params = {k: v for k, v in request.args.items()}
        if request.method == "GET":
            status, text = wechat.verify(params)
            content_type = "text/plain; charset=utf-8"
        else:
            try:
                body = _read_body(config.wechat.max_body_bytes)
            except ApiError as exc:
                return Response(exc.message, status=exc.status, mimetype="text/plain")
            status, text, content_type = wechat.handle(params, body)
        if status == 403:  # a bad signature or a stale timestamp
            metrics.signature_failures.inc()
        return Response(text, status=status, content_type=content_type)

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        if not _address_allowed(request.remote_addr, config.server.metrics_allow):
            _require_admin(config)
        return Response(metrics.exposition(), content_type=CONTENT_TYPE)

    @app.post("/admin/reload")
    def admin_reload() -> Response:
        """Reload here, then have every worker (every server, on Redis) follow; report which have."""
        _require_admin(config)
        ok, detail = bot.reload()
        if not ok:
            return fail(422, detail)
        known = set(bot.worker_reports())
        try:
            generation = bot.publish_reload()
        except StorageError:
            return jsonify({"reloaded": True, "detail": detail, "everywhere": False, "workers": {}})
        workers = _wait_for_workers(bot, generation, known, _reload_wait_seconds(config))
        behind = _behind(workers, generation, known)
        return jsonify(
            {
                "reloaded": True,
                "detail": detail,
                "generation": generation,
                "everywhere": not behind,
                "behind": behind,
                "workers": workers,
            }
        )

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
            log.error("stats unavailable: %s", exc)
            raise ApiError(503, "storage unavailable") from exc

    apply_published = register_console(app, bot, config)  # the staff console at /admin
    start_process = _process_start(bot, config, apply_published)
    app.extensions["faqbot.start_process"] = start_process
    return app


def _process_start(bot: FAQBot, config: Config, apply_published: Callable[[], None]) -> Callable[[], None]:
    """What each serving process starts for itself once: its storage connection and its corpus watcher."""
    started = [0]
    lock = threading.Lock()

    def start() -> None:
        pid = os.getpid()
        if started[0] == pid:
            return
        with lock:
            if started[0] == pid:
                return
            if isinstance(bot.storage, OpenedPerProcess):
                try:
                    bot.storage.opened()
                except StorageError as exc:  # answers go on without it; the next use tries again
                    log.error("storage unavailable at start: %s", exc)
            # The watcher also follows reloads published by other workers through shared storage.
            if config.server.watch_corpus or bot.storage.kind != "memory":
                _start_corpus_watcher(
                    bot, config.server.watch_interval, config.server.watch_corpus, apply_published
                )
            started[0] = pid

    return start


def _address_allowed(address: str | None, allowed: tuple[str, ...]) -> bool:
    """True when the client's address is in one of the allowed networks (e.g. the Prometheus server)."""
    if not address or not allowed:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in allowed)


def without_paths(message: str) -> str:
    """A message for a response body with every absolute file path cut to its file name."""
    return _ABSOLUTE_PATH.sub(r"\1", message)


def _reload_wait_seconds(config: Config) -> float:
    """How long /admin/reload waits for the other workers: a few of their watch intervals."""
    return min(RELOAD_WAIT_LIMIT_SECONDS, 2 * config.server.watch_interval + 15)


def _behind(workers: dict[str, dict], generation: int, known: set[str]) -> list[str]:
    """Workers known before the reload, or reporting now, that do not serve generation yet."""
    return sorted(
        worker for worker in known | set(workers) if workers.get(worker, {}).get("generation", 0) < generation
    )


def _wait_for_workers(bot: FAQBot, generation: int, known: set[str], timeout: float) -> dict[str, dict]:
    """Poll the workers' reports until every worker (known before, or reporting) serves generation."""
    deadline = time.monotonic() + timeout
    while True:
        workers = bot.worker_reports()
        if not _behind(workers, generation, known):
            return workers
        if time.monotonic() >= deadline:
            return workers
        time.sleep(0.1)


def _read_body(max_bytes: int) -> bytes:
    """The request body, refused with 413 when over max_bytes whether it came with a length or chunked."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, f"the body is over {max_bytes} bytes")
    stream = request.stream
    parts: list[bytes] = []
    size = 0
    while size <= max_bytes:
        part = stream.read(max_bytes + 1 - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > max_bytes:
        raise ApiError(413, f"the body is over {max_bytes} bytes")
    return b"".join(parts)


def _json_body(max_bytes: int) -> dict[str, Any]:
    data = _read_body(max_bytes)
    if not request.is_json:
        raise ApiError(415 if data else 400, "send a JSON object with Content-Type: application/json")
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        body = None
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


def _client_address() -> str:
    """The client's address (the real one behind a trusted proxy: see server.trusted_proxies)."""
    return request.remote_addr or "unknown"


def _given_token() -> str:
    """The token of an `Authorization: Bearer <token>` header (the scheme in any case), or ""."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _is_admin(config: Config) -> bool:
    token = config.server.admin_token
    return bool(token) and hmac.compare_digest(_given_token().encode(), token.encode())


def _require_admin(config: Config) -> None:
    """Let a request with the admin token through; throttle an address that keeps guessing."""
    if not config.server.admin_token:
        raise ApiError(404, "admin endpoints are off: set FAQBOT_ADMIN_TOKEN to enable them")
    bot: FAQBot = current_app.extensions["faqbot"]
    limit = config.server.admin_failures_per_minute
    key = "admin-failures:" + bot.hash_user(_client_address())
    try:
        throttled = limit > 0 and bot.storage.hits(key) >= limit
    except StorageError:
        throttled = False
    if throttled:
        raise ApiError(429, "too many wrong admin tokens from this address; wait a minute")
    if _is_admin(config):
        return
    log.warning("refused an admin request", extra={"path": request.path, "client": key[15:]})
    if limit > 0:
        try:
            bot.storage.hit(key, ADMIN_WINDOW_SECONDS)
        except StorageError as exc:
            bot.storage_failed(exc, "failed admin attempts not counted")
    raise ApiError(401, "a valid admin token is required (Authorization: Bearer <token>)")


def _start_corpus_watcher(
    bot: FAQBot, interval: float, watch_files: bool = True, before: Callable[[], None] = lambda: None
) -> threading.Thread:
    """Follow reloads published by other workers and, with watch_files, reload on a changed corpus file.

    `before` runs first each time: it writes a version published from the console on another server into
    this one's folder. A broken change keeps the old corpus serving; no failure of any kind stops the thread.
    """

    def watch() -> None:
        while not getattr(bot.storage, "closed", False):  # a closed storage ends its app's watcher
            time.sleep(interval)
            if getattr(bot.storage, "closed", False):
                return
            try:
                before()
                if watch_files:
                    bot.reload_if_changed()
                bot.follow_reloads()
            except Exception:
                log.exception("corpus watcher failed this round, will try again")

    thread = threading.Thread(target=watch, name="corpus-watcher", daemon=True)
    thread.start()
    return thread


class _AccessLogHandler(WSGIRequestHandler):
    """The development server's request line as a JSON record, without the query string."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        started = getattr(self, "_faqbot_started", None)
        elapsed = round((time.perf_counter() - started) * 1000, 2) if started else 0.0
        log_access(access_record(self.command or "", path, code, size, elapsed, self.address_string()))

    def handle_one_request(self) -> None:
        self._faqbot_started = time.perf_counter()
        super().handle_one_request()


def main() -> None:
    """Development server: python server.py [--config config.yaml] [--host 127.0.0.1] [--port 8000]."""
    parser = argparse.ArgumentParser(description="faqbot development server")
    parser.add_argument("--config", default=str(HERE / "config.yaml"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app = create_app(load_config(args.config))
    app.extensions["faqbot.start_process"]()
    app.run(host=args.host, port=args.port, threaded=True, request_handler=_AccessLogHandler)


if __name__ == "__main__":
    main()
