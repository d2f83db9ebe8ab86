"""Configuration from environment variables (and a `.env` file).

Every variable is listed with its default in `.env.example`; keep the two in step.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from dotenv import dotenv_values, load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"
# Values that have been published with the project: whoever read them could sign tokens.
KNOWN_SECRETS = frozenset({DEV_SECRET, "change-me-to-a-long-random-string", "change-me"})
KNOWN_FLOWER_LOGINS = frozenset({"admin:change-me", "admin:admin"})
MIN_SECRET_BYTES = 32
SAFE_FOR_DEFAULTS = ("development", "test")
LOG_FORMATS = ("text", "json")

# Tests set their whole environment themselves; a developer's .env must not leak into them.
if os.environ.get("APP_ENV") != "test":
    load_dotenv(PROJECT_ROOT / ".env")


def env_str(name: str, default: str = "") -> str:
    """The variable's value; unset or blank means the default."""
    value = os.environ.get(name, "").strip()
    return value or default


def env_path(name: str, default: Path) -> Path:
    """A path setting; relative paths are relative to the project root."""
    path = Path(env_str(name, str(default)))
    return path if path.is_absolute() else PROJECT_ROOT / path


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def redis_url() -> str:
    return env_str("REDIS_URL", "redis://127.0.0.1:6379/0")


def log_format() -> str:
    """`text` or `json`; gunicorn's config reads it too, before any app exists."""
    value = env_str("LOG_FORMAT", "text").lower()
    if value not in LOG_FORMATS:
        raise RuntimeError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {value!r}")
    return value


def database_url() -> str:
    url = env_str("DATABASE_URL")
    if not url:
        raise RuntimeError(
            "DATABASE_URL is not set: `make run` starts an embedded PostgreSQL "
            "(`python -m api.local_stack COMMAND` runs COMMAND against it), or set DATABASE_URL."
        )
    # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3; the project ships psycopg2.
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme) :]
    return url


def insecure_settings(config: dict) -> list[str]:
    """Why these settings must not run outside development and test; empty when they may."""
    if config["ENV_NAME"] in SAFE_FOR_DEFAULTS:
        return []
    published = KNOWN_SECRETS | _example_values("SECRET_KEY", "JWT_SECRET_KEY")
    problems = []
    for name in ("SECRET_KEY", "JWT_SECRET_KEY"):
        value = config[name] or ""
        if value in published or value.startswith("change-me"):
            problems.append(f"{name} is a published placeholder")
        elif len(value.encode()) < MIN_SECRET_BYTES:
            problems.append(f"{name} is shorter than {MIN_SECRET_BYTES} bytes")
    if config["FLOWER_BASIC_AUTH"] in KNOWN_FLOWER_LOGINS | _example_values("FLOWER_BASIC_AUTH"):
        problems.append("FLOWER_BASIC_AUTH is a published placeholder")
    return problems


def _example_values(*names: str) -> frozenset[str]:
    """The non-empty values `.env.example` gives these settings (it is public)."""
    example = PROJECT_ROOT / ".env.example"
    values = dotenv_values(example) if example.exists() else {}
    return frozenset(v for name in names if (v := (values.get(name) or "").strip()))


def load_config() -> dict:
    """Build the Flask config mapping from the environment."""
    instance_dir = env_path("INSTANCE_DIR", PROJECT_ROOT / "instance")
    secret_key = env_str("SECRET_KEY", DEV_SECRET)
    return {
        "ENV_NAME": env_str("APP_ENV", "development"),
        "SECRET_KEY": secret_key,
        "FLOWER_BASIC_AUTH": env_str("FLOWER_BASIC_AUTH"),
        "INSTANCE_DIR": str(instance_dir),
        "PUBLIC_BASE_URL": env_str("PUBLIC_BASE_URL", "http://localhost:8000").rstrip("/"),
        "PASSWORD_RESET_URL": env_str("PASSWORD_RESET_URL", "{base_url}/reset-password?token={token}"),
        "LOG_LEVEL": env_str("LOG_LEVEL", "INFO"),
        # text (the default) | json: one JSON object per line, one line per request and per task
        "LOG_FORMAT": log_format(),
        # Database
        "SQLALCHEMY_DATABASE_URI": database_url(),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Redis: token blocklist, rate limits, pub/sub
        "REDIS_URL": redis_url(),
        # Auth
        "JWT_SECRET_KEY": env_str("JWT_SECRET_KEY", secret_key),
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=env_int("JWT_ACCESS_TOKEN_MINUTES", 15)),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(days=env_int("JWT_REFRESH_TOKEN_DAYS", 7)),
        "JWT_TOKEN_LOCATION": ["headers"],
        "REQUIRE_EMAIL_VERIFICATION": env_bool("REQUIRE_EMAIL_VERIFICATION", True),
        "VERIFY_TOKEN_HOURS": env_int("VERIFY_TOKEN_HOURS", 24),
        "RESET_TOKEN_MINUTES": env_int("RESET_TOKEN_MINUTES", 60),
        # Rate limits (flask-limiter syntax); storage shares Redis
        "RATELIMIT_ENABLED": env_bool("RATELIMIT_ENABLED", True),
        "RATELIMIT_STORAGE_URI": env_str("RATELIMIT_STORAGE_URI", redis_url()),
        "RATELIMIT_HEADERS_ENABLED": True,
        # Redis down: no request fails for the limiter's sake (fail open), and each API process
        # counts in its own memory meanwhile, so the limits still bite (per process) until it is back.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_LOGIN": env_str("RATELIMIT_LOGIN", "10 per minute"),
        # per account (the login as typed, normalised), from any number of addresses
        "RATELIMIT_LOGIN_ACCOUNT": env_str("RATELIMIT_LOGIN_ACCOUNT", "20 per hour"),
        "RATELIMIT_SIGNUP": env_str("RATELIMIT_SIGNUP", "10 per hour"),
        "RATELIMIT_EMAIL": env_str("RATELIMIT_EMAIL", "5 per hour"),
        "RATELIMIT_CHAT": env_str("RATELIMIT_CHAT", "30 per minute"),
        "RATELIMIT_SEARCH": env_str("RATELIMIT_SEARCH", "60 per minute"),
        "RATELIMIT_UPLOAD": env_str("RATELIMIT_UPLOAD", "60 per hour"),
        "PROXY_FIX_X_FOR": env_int("PROXY_FIX_X_FOR", 0),
        "CORS_ORIGINS": env_list("CORS_ORIGINS", "*"),
        # Mail: with no MAIL_SERVER, messages go to MAIL_OUTBOX_DIR and links to the log
        "MAIL_SERVER": env_str("MAIL_SERVER"),
        "MAIL_PORT": env_int("MAIL_PORT", 25),
        "MAIL_USE_TLS": env_bool("MAIL_USE_TLS", False),
        "MAIL_USE_SSL": env_bool("MAIL_USE_SSL", False),
        "MAIL_USERNAME": env_str("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env_str("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": env_str("MAIL_DEFAULT_SENDER", "Ragbot <no-reply@localhost>"),
        "MAIL_OUTBOX_DIR": str(env_path("MAIL_OUTBOX_DIR", instance_dir / "outbox")),
        # OpenAPI (flask-smorest)
        "API_TITLE": "Ragbot API",
        "API_VERSION": "1.0.0",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "api/v1/openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        # Swagger UI's scripts come from the app itself (flask-swagger-ui's copy), so /docs works offline.
        "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
        # No call-out to the public validator badge service.
        "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},
        "MAX_CONTENT_LENGTH": env_int("MAX_UPLOAD_MB", 10) * 1024 * 1024,
        # What one document may cost the worker that reads it (rag.parsing.ParseLimits)
        "MAX_DOCX_UNZIPPED_MB": env_int("MAX_DOCX_UNZIPPED_MB", 50),
        "MAX_PDF_PAGES": env_int("MAX_PDF_PAGES", 500),
        "HISTORY_RETENTION_DAYS": env_int("HISTORY_RETENTION_DAYS", 30),
        "TASK_RETENTION_DAYS": env_int("TASK_RETENTION_DAYS", 30),
        "BACKUP_DIR": str(env_path("BACKUP_DIR", instance_dir / "backups")),
        "BACKUP_KEEP": env_int("BACKUP_KEEP", 4),
        # Tasks: the hard time limit (celery_config reads it too) and how often a message may
        # come back after its worker died before it is given up
        "TASK_TIME_LIMIT": env_int("TASK_TIME_LIMIT", 360),
        "TASK_MAX_DELIVERIES": env_int("TASK_MAX_DELIVERIES", 3),
        # Retrieval and generation (workers and the `flask rag` CLI; never the API process)
        "INDEX_DIR": str(env_path("INDEX_DIR", instance_dir / "index")),
        "UPLOAD_DIR": str(env_path("UPLOAD_DIR", instance_dir / "uploads")),
        "SEARCH_TIMEOUT": float(env_str("SEARCH_TIMEOUT", "10")),
        "SSE_HEARTBEAT_SECONDS": float(env_str("SSE_HEARTBEAT_SECONDS", "15")),
        # Open event streams, counted across every API process: beyond these a new one gets 429.
        # A stream ends after SSE_MAX_STREAM_SECONDS; clients reconnect with Last-Event-ID.
        "SSE_MAX_STREAMS_PER_USER": env_int("SSE_MAX_STREAMS_PER_USER", 5),
        "SSE_MAX_STREAMS": env_int("SSE_MAX_STREAMS", 1000),
        "SSE_MAX_STREAM_SECONDS": env_int("SSE_MAX_STREAM_SECONDS", 600),
        "EMBEDDING_THREADS": env_int("EMBEDDING_THREADS", 0) or None,
        "CHUNK_TOKENS": env_int("CHUNK_TOKENS", 200),
        "CHUNK_OVERLAP": env_int("CHUNK_OVERLAP", 32),
        "LLM_BACKEND": env_str("LLM_BACKEND", "llamacpp"),
        "LLM_MODEL_PATH": env_str("LLM_MODEL_PATH") or None,
        # packaged GGUF when LLM_MODEL_PATH is empty: gemma3-270m | smollm2-135m
        "LLM_MODEL": env_str("LLM_MODEL", "gemma3-270m"),
        # extractive (quote the best evidence sentences) | generative (the LLM writes, checked)
        "ANSWER_MODE": env_str("ANSWER_MODE", "extractive"),
        "LLM_CONTEXT": env_int("LLM_CONTEXT", 2048),
        "LLM_THREADS": env_int("LLM_THREADS", 2),
        "OLLAMA_HOST": env_str("OLLAMA_HOST", "http://127.0.0.1:11434"),
        "OLLAMA_MODEL": env_str("OLLAMA_MODEL", "llama3.2:1b"),
        "OLLAMA_TIMEOUT": float(env_str("OLLAMA_TIMEOUT", "120")),
        "RETRIEVAL_TOP_K": env_int("RETRIEVAL_TOP_K", 3),
        "RETRIEVAL_FUSION": env_str("RETRIEVAL_FUSION", "zscore"),
        "RELEVANCE_THRESHOLD": float(env_str("RELEVANCE_THRESHOLD", "0.4")),
        "MAX_ANSWER_TOKENS": env_int("MAX_ANSWER_TOKENS", 192),
        "HISTORY_TURNS": env_int("HISTORY_TURNS", 6),
        # Load models when a worker process starts (off: on the first task, e.g. email-only workers)
        "RAG_WARM_UP": env_bool("RAG_WARM_UP", True),
        "READYZ_WORKER_TIMEOUT": float(env_str("READYZ_WORKER_TIMEOUT", "1.0")),
    }
