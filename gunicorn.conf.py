"""gunicorn's settings file. gunicorn reads `./gunicorn.conf.py` on every start, so the Procfile's
`api` process, docker compose and the Dockerfile's command all use it with no flag.

Metrics: gunicorn runs several worker processes and a scrape reaches only one, so request
metrics go to prometheus_client's multiprocess files and every scrape adds them up
(api/services/metrics.py). The directory is named before any worker imports the app, and
each server starts it empty: a fresh temporary one, or the one PROMETHEUS_MULTIPROC_DIR names.

Logs: with LOG_FORMAT=json, gunicorn's own lines are JSON too and its access log is off:
the app writes one JSON line per request instead (api/extensions/telemetry.py). In text mode
the access log names paths without the tokens of email links and without query strings.
"""

import os

# The serving model. An event stream or a `?wait=` request spends seconds to minutes waiting on
# Redis: as a thread that wait holds one of a few threads per process, so a handful of streams
# stalls the API for everyone; as a gevent greenlet it costs kilobytes, so one process holds
# thousands (bench/sse_capacity.py measures both). API_WORKER_CLASS=gthread goes back to threads.
worker_class = os.environ.get("API_WORKER_CLASS") or "gevent"
# Connections a process serves at once, streams included: above SSE_MAX_STREAMS (all of them
# could land on one process), so open streams never leave a process without room for requests.
worker_connections = int(os.environ.get("API_WORKER_CONNECTIONS") or 2000)
if worker_class == "gevent":
    # Before anything else is imported (below, the app's own modules), so every socket, lock and
    # sleep they create cooperates; psycopg2 is C and needs its own wait callback.
    from gevent import monkey

    monkey.patch_all()
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()

import shutil  # noqa: E402 - after the patching above
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

TEMPORARY_PREFIX = "ragbot-metrics-"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=TEMPORARY_PREFIX)

# Imported once the directory is set: prometheus_client picks its mode when first imported.
from gunicorn.glogging import Logger  # noqa: E402

from api.config import env_str, log_format  # noqa: E402
from api.logs import gunicorn_logconfig, redact_url  # noqa: E402

if log_format() == "json":
    logconfig_dict = gunicorn_logconfig(env_str("LOG_LEVEL", "INFO"))


class RedactingLogger(Logger):
    """gunicorn's logger, whose access lines carry no email-link token and no query string."""

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "U"):
            atoms[name] = redact_url(atoms[name] or "")
        atoms["q"] = ""
        return atoms


logger_class = RedactingLogger


def _metrics_dir() -> Path:
    return Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def on_starting(server: Any) -> None:
    """Counts start at zero with each server (a restarted server must not add to the last one's)."""
    _metrics_dir().mkdir(parents=True, exist_ok=True)
    for stale in _metrics_dir().glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """A worker that exits takes its live gauges with it (prometheus_client's multiprocess rule)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if _metrics_dir().name.startswith(TEMPORARY_PREFIX):
        shutil.rmtree(_metrics_dir(), ignore_errors=True)
