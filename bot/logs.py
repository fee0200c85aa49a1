"""Structured JSON logs: one object per line, with no secrets and no raw user ids in them."""

from __future__ import annotations

import json
import logging
import sys
import time

_RESERVED = frozenset(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: time, level, logger, message, extra fields, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send the faqbot loggers to stderr as JSON lines (idempotent: safe to call once per app)."""
    logger = logging.getLogger("faqbot")
    logger.setLevel(level.upper())
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.propagate = False


def access_record(
    method: str, path: str, status: int | str, size: int | str | None, ms: float, remote: str | None
) -> dict[str, object]:
    """One access-log record: the path without its query string, which for WeChat carries the signature,
    timestamp, nonce and the sender's OpenID."""
    return {"remote": remote, "method": method, "path": path, "status": status, "bytes": size, "ms": ms}


def _access_logger() -> logging.Logger:
    """The faqbot.access logger, writing JSON lines to stderr."""
    logger = logging.getLogger("faqbot.access")
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def log_access(record: dict[str, object]) -> None:
    """Write one access record through the JSON formatter (so quotes and backslashes stay valid JSON)."""
    _access_logger().info("request", extra=record)


try:  # gunicorn is the production server; the development server and the CLI run without it
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover
    _GunicornLogger = None  # type: ignore[assignment,misc]

if _GunicornLogger is not None:

    class JsonAccessLogger(_GunicornLogger):  # type: ignore[misc,valid-type]
        """gunicorn's logger with the access log written as JSON records, paths without query strings."""

        def access(self, resp, req, environ, request_time) -> None:  # type: ignore[no-untyped-def]
            if not self.cfg.accesslog:
                return
            status = getattr(resp, "status_code", None) or str(getattr(resp, "status", "")).split(" ")[0]
            record = access_record(
                environ.get("REQUEST_METHOD", ""),
                environ.get("PATH_INFO", ""),
                int(status) if str(status).isdigit() else status,
                getattr(resp, "sent", None),
                round(request_time.total_seconds() * 1000, 2),
                environ.get("REMOTE_ADDR"),
            )
            log_access(record)
