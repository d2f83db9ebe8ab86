"""Log lines as plain text (the default) or as one JSON object per line (`LOG_FORMAT=json`).

The API process, the Celery workers and gunicorn's own master all format through
here, so a log collector reads one shape. Beyond the message, a line carries only
the fields named in LINE_FIELDS, so no header, body or task argument slips in.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CHATTY_LOGGERS = ("bm25s", "faiss.loader", "sentence_transformers")
# The only `extra=` fields a JSON line carries. Libraries attach their own (Celery puts a task's
# arguments under `data`, and a search's arguments hold the user's query): those are dropped.
LINE_FIELDS = (
    "event",
    "method",
    "route",
    "status",
    "duration_ms",
    "user_id",
    "request_id",
    "task_name",
    "task_id",
    "state",
)
_OURS = "_ragbot_handler"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, then those of LINE_FIELDS it has."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(self.context())
        line.update((name, getattr(record, name)) for name in LINE_FIELDS if hasattr(record, name))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)

    def context(self) -> dict[str, Any]:
        """Fields every line of this process carries (a worker adds the running task)."""
        return {}


def log_finished(logger: logging.Logger, event: str, seconds: float, **fields: Any) -> None:
    """One line for a finished request or task: its fields, as `name=value` text and as JSON fields."""
    logger.info(
        " ".join(f"{name}=%s" for name in fields),
        *fields.values(),
        extra={"event": event, "duration_ms": round(seconds * 1000, 1), **fields},
    )


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, log_format: str) -> None:
    """Give the root logger one stream handler of ours in `log_format`; safe to call again."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(level)
    for chatty in CHATTY_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)


# Link tokens travel in URL paths (`/verify-email/<token>`): access-log lines show `<token>` instead.
_TOKEN_IN_PATH = re.compile(r"(/verify-email/)[^/?\s]+")
_QUERY = re.compile(r"\?\S*")


def redact_url(text: str) -> str:
    """A request line or path with link tokens and the query string (it may hold one) taken out."""
    return _QUERY.sub("?…", _TOKEN_IN_PATH.sub(r"\1<token>", text))


def gunicorn_logconfig(level: str) -> dict[str, Any]:
    """gunicorn's `logconfig_dict` for JSON: its own lines as JSON, and no access log.

    Our request line (api/extensions/telemetry.py) replaces gunicorn's access log: it
    names the route rule, the user and the request id, which gunicorn cannot know.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json"}},
        # The app gives the root logger its handler in each worker (configure_logging).
        "root": {"level": level, "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["json"], "propagate": False},
            "gunicorn.access": {"handlers": [], "propagate": False},
        },
    }
