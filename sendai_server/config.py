"""Every environment variable the server reads is read here, and nowhere else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_SQLITE_PATH = Path("instance") / "sendai.db"
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_SQLITE_PATH}"

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


@dataclass(frozen=True)
class Config:
    env: str = "development"  # development | production | test
    database_url: str = DEFAULT_DATABASE_URL
    test_helpers: bool = True
    rate_limit: str | None = None  # e.g. "600/minute"; None disables limiting
    rate_limit_storage: str = "memory://"
    # Prefix of the limiter's keys in the shared store (several deployments can share a Redis).
    rate_limit_key_prefix: str = "sendai"
    log_level: str = "INFO"
    max_body_bytes: int = 1024 * 1024
    # The whole of an upload request (API.md §9); each file is at most 40 MiB besides.
    max_upload_bytes: int = 512 * 1024 * 1024
    # Where uploaded files are kept: a folder, or s3://bucket/prefix (storage.py).
    storage_url: str = "instance/files"
    # Seconds a pipeline step takes, for projects that do not set their own delay (§8).
    pipeline_delay: float = 1.0
    # A key's last_used_at is written at most this often, so reads stay reads.
    key_touch_interval_seconds: int = 60
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    # Serve a database whose schema is not at this version's head (a rolling upgrade); off,
    # such a database answers 503 `unavailable` (uow.py) and `serve` refuses to start (cli.py).
    allow_schema_mismatch: bool = False
    # Signs list pagination tokens. Unset: a random secret made once and kept in the database,
    # so every worker and host on that database shares it (services/signing.py).
    secret_key: str | None = field(default=None, repr=False)
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
            pipeline_delay = float(env.get("SENDAI_PIPELINE_DELAY", str(cls.pipeline_delay)))
            workers = int(env.get("SENDAI_WORKERS", str(cls.workers)))
        except ValueError as exc:
            raise ConfigError(
                "SENDAI_MAX_BODY_BYTES, SENDAI_MAX_UPLOAD_BYTES and SENDAI_WORKERS are integers "
                f"and SENDAI_PIPELINE_DELAY a number of seconds: {exc}"
            ) from exc
        if max_body < 1 or workers < 1 or max_upload < 1:
            raise ConfigError(
                "SENDAI_MAX_BODY_BYTES, SENDAI_MAX_UPLOAD_BYTES and SENDAI_WORKERS must be positive"
            )
        if not 0 <= pipeline_delay <= 3600:
            raise ConfigError("SENDAI_PIPELINE_DELAY is between 0 and 3600 seconds")
        config = cls(
            env=app_env,
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            test_helpers=_flag(
                env.get("SENDAI_TEST_HELPERS"), not production, "SENDAI_TEST_HELPERS"
            ),
            rate_limit=env.get("SENDAI_RATE_LIMIT") or None,
            rate_limit_storage=env.get("SENDAI_RATE_LIMIT_STORAGE") or "memory://",
            rate_limit_key_prefix=env.get("SENDAI_RATE_LIMIT_PREFIX") or cls.rate_limit_key_prefix,
            log_level=(env.get("SENDAI_LOG_LEVEL") or "INFO").upper(),
            max_body_bytes=max_body,
            max_upload_bytes=max_upload,
            storage_url=env.get("SENDAI_STORAGE_URL") or cls.storage_url,
            pipeline_delay=pipeline_delay,
            bind=env.get("SENDAI_BIND") or cls.bind,
            workers=workers,
            allow_schema_mismatch=_flag(
                env.get("SENDAI_ALLOW_SCHEMA_MISMATCH"), False, "SENDAI_ALLOW_SCHEMA_MISMATCH"
            ),
            secret_key=env.get("SENDAI_SECRET_KEY") or None,
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
