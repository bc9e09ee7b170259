"""Every environment variable the server reads is read here, and nowhere else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .domain.profiles import ProfileError, parse_profile_text

DEFAULT_SQLITE_PATH = Path("instance") / "sendai.db"
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_SQLITE_PATH}"

# Claims after which a failing job is left for a person (jobs.py). A delivery is one
# job, claimed once per attempt, so it has at most this many attempts.
JOB_MAX_ATTEMPTS = 10
MAX_DELIVERY_ATTEMPTS = JOB_MAX_ATTEMPTS

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """The environment asks for something the server cannot run with."""


def _flag(value: str | None, default: bool, name: str) -> bool:
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {value!r}")


def _seconds(
    env: Mapping[str, str], name: str, default: float, *, low: float, high: float | None = None
) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= (high if high is not None else float("inf")):
        bounds = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise ConfigError(f"{name} is a number of seconds {bounds}; got {raw!r}")
    return value

# Seconds a pipeline step waits unless the project or SENDAI_PIPELINE_DELAY says otherwise
# (docs/project-settings.md); the services' default too.
DEFAULT_PIPELINE_DELAY = 1.0

def _public_url(raw: str | None) -> str | None:
    """SENDAI_PUBLIC_URL without its trailing slash; an http(s) URL with a host, or unset."""
    value = (raw or "").strip().rstrip("/")
    if not value:
        return None
    scheme, separator, rest = value.partition("://")
    if scheme.lower() not in {"http", "https"} or not separator or not rest.split("/")[0]:
        raise ConfigError(
            "SENDAI_PUBLIC_URL is the address clients reach the server at, like "
            f"http://127.0.0.1:8000 or https://sendai.example.com; got {raw!r}"
        )
    return value


@dataclass(frozen=True)
class Config:
    env: str = "development"  # development | production | test
    database_url: str = DEFAULT_DATABASE_URL
    test_helpers: bool = True
    # The inspector's web pages under /inspect (docs/inspector.md); off in production unless asked.
    inspector: bool = True
    rate_limit: str | None = None  # e.g. "600/minute"; None disables limiting
    rate_limit_storage: str = "memory://"
    # Prefix of the limiter's keys in the shared store (several deployments can share a Redis).
    rate_limit_key_prefix: str = "sendai"
    log_level: str = "INFO"
    max_body_bytes: int = 1024 * 1024
    # The whole of an upload request (docs/api/uploads.md); each file is at most 40 MiB besides.
    max_upload_bytes: int = 512 * 1024 * 1024
    # Where uploaded files are kept: a folder, or s3://bucket/prefix (storage.py).
    storage_url: str = "instance/files"
    # A key's last_used_at is written at most this often, so reads stay reads.
    key_touch_interval_seconds: int = 60
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    # The address clients reach the server at, when it is not the bind address (a container's
    # published port, a proxy): every address the CLI prints starts with it (cli/address.py).
    public_url: str | None = None
    # Set by `serve` for the processes it starts where Linux's parent-death signal is missing:
    # its pid, which they watch to end with it (parent_watch.py). Not a setting for people.
    supervisor_pid: int | None = None
    # Serve a database whose schema is not at this version's head (a rolling upgrade); off,
    # such a database answers 503 `unavailable` (uow.py) and `serve` refuses to start (cli/).
    allow_schema_mismatch: bool = False
    # Signs list pagination tokens. Unset: a random secret made by the database's migration
    # and kept there, so every worker and host on that database shares it (services/signing.py).
    secret_key: str | None = field(default=None, repr=False)
    # The pipeline (docs/pipeline.md, pipeline/): how long a step takes unless the project says
    # otherwise; how long a worker holds a job before another may take it (a worker that died
    # mid-job); how long an idle worker sleeps before it looks for new jobs again.
    pipeline_delay: float = DEFAULT_PIPELINE_DELAY
    job_lease_seconds: float = 60.0
    worker_poll_seconds: float = 1.0
    # Test hooks of the worker (pipeline/worker.py), ignored in production: a folder where the
    # worker holds each job it claims until the test releases it, and "module:attribute" of a
    # mapping of extra job handlers (kind -> handler) for workers started as processes.
    test_job_barrier: str | None = None
    test_job_handlers: str | None = None
    # A folder where one chosen SQL statement is held until the test releases it
    # (statement_barrier.py); ignored in production.
    test_statement_barrier: str | None = None
    # Deliveries of notifications (docs/notifications.md, pipeline/deliveries.py): attempts before a
    # notification is `failed` (at most the job queue's limit), the total time an attempt may
    # take, and the first wait before a retry (then doubled each time: 1, 2, 4, 8 ... s).
    delivery_attempts: int = 8
    delivery_timeout_seconds: float = 10.0
    delivery_backoff_seconds: float = 1.0
    # The fidelity profile of every team that sets none of its own (docs/profiles.md):
    # SENDAI_PROFILE=switch=choice,... ; the switches it does not name keep their defaults.
    profile: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        app_env = env.get("SENDAI_ENV", "development").strip().lower()
        if app_env not in {"development", "production", "test"}:
            raise ConfigError(
                f"SENDAI_ENV must be development, production or test; got {app_env!r}"
            )
        production = app_env == "production"
        try:
            max_body = int(env.get("SENDAI_MAX_BODY_BYTES", str(cls.max_body_bytes)))
            max_upload = int(env.get("SENDAI_MAX_UPLOAD_BYTES", str(cls.max_upload_bytes)))
            workers = int(env.get("SENDAI_WORKERS", str(cls.workers)))
            supervisor = env.get("SENDAI_SUPERVISOR_PID") or None
            supervisor_pid = int(supervisor) if supervisor is not None else None
            attempts = int(env.get("SENDAI_DELIVERY_ATTEMPTS") or cls.delivery_attempts)
        except ValueError as exc:
            raise ConfigError(
                "SENDAI_MAX_BODY_BYTES, SENDAI_MAX_UPLOAD_BYTES, SENDAI_WORKERS, "
                f"SENDAI_DELIVERY_ATTEMPTS and SENDAI_SUPERVISOR_PID are integers: {exc}"
            ) from exc
        if not 1 <= attempts <= MAX_DELIVERY_ATTEMPTS:
            raise ConfigError(
                f"SENDAI_DELIVERY_ATTEMPTS is from 1 to {MAX_DELIVERY_ATTEMPTS}; got {attempts}"
            )
        if max_body < 1 or workers < 1 or max_upload < 1:
            raise ConfigError(
                "SENDAI_MAX_BODY_BYTES, SENDAI_MAX_UPLOAD_BYTES and SENDAI_WORKERS must be positive"
            )
        delay = _seconds(env, "SENDAI_PIPELINE_DELAY", cls.pipeline_delay, low=0.0, high=3600.0)
        lease = _seconds(env, "SENDAI_JOB_LEASE_SECONDS", cls.job_lease_seconds, low=0.1)
        poll = _seconds(env, "SENDAI_WORKER_POLL_SECONDS", cls.worker_poll_seconds, low=0.01)
        timeout = _seconds(env, "SENDAI_DELIVERY_TIMEOUT_SECONDS", cls.delivery_timeout_seconds,
                           low=0.01, high=300.0)
        backoff = _seconds(env, "SENDAI_DELIVERY_BACKOFF_SECONDS", cls.delivery_backoff_seconds,
                           low=0.0, high=3600.0)
        try:
            profile = parse_profile_text(env.get("SENDAI_PROFILE") or "")
        except ProfileError as exc:
            raise ConfigError(f"SENDAI_PROFILE is switch=choice,...: {exc}") from exc
        config = cls(
            env=app_env,
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            test_helpers=_flag(
                env.get("SENDAI_TEST_HELPERS"), not production, "SENDAI_TEST_HELPERS"
            ),
            inspector=_flag(env.get("SENDAI_INSPECTOR"), not production, "SENDAI_INSPECTOR"),
            rate_limit=env.get("SENDAI_RATE_LIMIT") or None,
            rate_limit_storage=env.get("SENDAI_RATE_LIMIT_STORAGE") or "memory://",
            rate_limit_key_prefix=env.get("SENDAI_RATE_LIMIT_PREFIX") or cls.rate_limit_key_prefix,
            log_level=(env.get("SENDAI_LOG_LEVEL") or "INFO").upper(),
            max_body_bytes=max_body,
            max_upload_bytes=max_upload,
            storage_url=env.get("SENDAI_STORAGE_URL") or cls.storage_url,
            bind=env.get("SENDAI_BIND") or cls.bind,
            workers=workers,
            public_url=_public_url(env.get("SENDAI_PUBLIC_URL")),
            supervisor_pid=supervisor_pid,
            allow_schema_mismatch=_flag(
                env.get("SENDAI_ALLOW_SCHEMA_MISMATCH"), False, "SENDAI_ALLOW_SCHEMA_MISMATCH"
            ),
            secret_key=env.get("SENDAI_SECRET_KEY") or None,
            pipeline_delay=delay,
            job_lease_seconds=lease,
            worker_poll_seconds=poll,
            test_job_barrier=None if production else env.get("SENDAI_TEST_JOB_BARRIER") or None,
            test_job_handlers=None if production else env.get("SENDAI_TEST_JOB_HANDLERS") or None,
            test_statement_barrier=(
                None if production else env.get("SENDAI_TEST_STATEMENT_BARRIER") or None
            ),
            delivery_attempts=attempts,
            delivery_timeout_seconds=timeout,
            delivery_backoff_seconds=backoff,
            profile=profile,
        )
        config.check()
        return config

    def with_overrides(self, **changes: Any) -> Config:
        return replace(self, **changes)

    def check(self) -> None:
        """A production server on the throwaway default SQLite file is a mistake; refuse it.
        A rate limit that does not parse is refused at start, not at the first request."""
        if self.rate_limit:
            from limits import parse

            try:
                parse(self.rate_limit)
            except ValueError as exc:
                raise ConfigError(
                    f"SENDAI_RATE_LIMIT must look like '600/minute'; got {self.rate_limit!r}"
                ) from exc
        if self.is_production and self.database_url == DEFAULT_DATABASE_URL:
            raise ConfigError(
                "SENDAI_ENV=production needs DATABASE_URL set (refusing the default SQLite file)"
            )
