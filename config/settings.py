"""The one place that reads partnerbot's configuration.

``load_settings`` takes the environment as an argument (as Starlette's ``Config`` does), so tests
pass a dict instead of patching ``os.environ``.
"""

from __future__ import annotations

import base64
import binascii
import os
import zoneinfo
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PREFIX = "PARTNERBOT_"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./partnerbot.db"


class SettingsError(Exception):
    """The configuration cannot be used; the message names the variable to fix."""


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = Field(default=3978, ge=1, le=65535)
    env: Environment = Environment.DEVELOPMENT
    timezone: str = "Europe/London"
    admins: tuple[str, ...] = ()

    slack_signing_secret: str = ""
    slack_bot_token: str = ""
    slack_api_url: str = "https://slack.com/api/"
    slack_command: str = "/partner"
    # Installation into several workspaces through Slack OAuth (instead of one bot token): the
    # app's client id and secret, and the key the workspaces' tokens are encrypted with at rest
    # (a Fernet key; several, comma-separated, to rotate: the first encrypts, any decrypts).
    slack_client_id: str = ""
    slack_client_secret: str = ""
    slack_token_key: str = ""
    slack_authorize_url: str = "https://slack.com/oauth/v2/authorize"

    teams_app_id: str = ""
    teams_app_password: str = ""
    teams_tenant_id: str = ""
    teams_app_type: str = "MultiTenant"
    # Where the Bot Framework's token signing keys are published, and the authority the bot gets
    # its own token from (tenant included). Empty: the SDK's public-cloud endpoints. Set them
    # for a private cloud, or to point a test at fakes.
    teams_openid_metadata_url: str = ""
    teams_login_url: str = ""

    # Extra self-evaluation frameworks (a folder of *.yaml), beside the shipped ones.
    frameworks_dir: str = ""
    # The address people's browsers reach the bot at, for report downloads (default: host:port).
    public_url: str = ""

    # Check-in answers are kept this many months after their cycle closes, then only the
    # ratings stay, unnamed. 0 keeps them until a member erases their data.
    retention_months: int = Field(default=0, ge=0, le=1200)
    # Who runs this bot and how to reach them about personal data, for the privacy notice.
    privacy_contact: str = Field(default="", max_length=500)
    # Reports of anonymous check-ins leave out any area with fewer respondents than this, so
    # nobody can be recognised in a small group (a cycle may set its own with min=).
    min_respondents: int = Field(default=5, ge=2, le=100)

    # The delivery engine. With several web replicas, turn it off in the web processes and run
    # `partnerbot worker` instead (on SQLite only one dispatcher ever claims).
    dispatcher_in_web: bool = True
    dispatch_interval: float = Field(default=2.0, gt=0, le=60)
    outbox_lease_seconds: int = Field(default=120, ge=5, le=3600)

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("slack_token_key")
    @classmethod
    def _fernet_keys(cls, value: str) -> str:
        for key in value.split(","):
            try:
                raw = base64.urlsafe_b64decode(key.strip().encode("ascii"))
            except (binascii.Error, UnicodeEncodeError, ValueError):
                raw = b""
            if len(raw) != 32:
                raise ValueError(
                    "each key must be 32 url-safe base64-encoded bytes, as "
                    "cryptography's Fernet.generate_key() makes (docs/deploy.md)"
                )
        return value

    @field_validator("teams_openid_metadata_url", "teams_login_url")
    @classmethod
    def _https(cls, value: str) -> str:
        # Over plain HTTP anyone on the path could hand the bot their own signing keys.
        if value and not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_signing_secret or self.slack_bot_token or self.slack_client_id)

    @property
    def slack_oauth(self) -> bool:
        """Installed into workspaces through Slack OAuth, each with its own token, rather than
        one workspace's bot token from the environment."""
        return bool(self.slack_client_id)

    def slack_missing(self) -> list[str]:
        """The Slack variables still to set for the mode chosen (none when Slack is off)."""
        if not self.slack_enabled:
            return []
        needed = ["slack_signing_secret"]
        if self.slack_oauth:
            needed += ["slack_client_id", "slack_client_secret", "slack_token_key"]
        else:
            needed.append("slack_bot_token")
        return [_env_name(name) for name in needed if not getattr(self, name)]

    @property
    def teams_configured(self) -> bool:
        return bool(self.teams_app_id or self.teams_app_password)

    @property
    def teams_enabled(self) -> bool:
        """Teams is always served in development (the local emulator needs no credentials);
        in production only once its credentials are set."""
        return self.teams_configured or not self.is_production

    @property
    def teams_auth_disabled(self) -> bool:
        """An empty app id makes the SDK accept unauthenticated requests: development only."""
        return not self.teams_app_id


def _env_name(field: str) -> str:
    return PREFIX + field.upper()


def load_settings(
    environ: Mapping[str, str] | None = None, *, env_file: Path | str | None = None
) -> Settings:
    """Build settings from ``environ`` (``os.environ`` when omitted).

    A ``.env`` file (``env_file``) fills in variables the environment does not set; it is read
    only outside production.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        file_env = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
        if file_env.get(_env_name("env"), environ.get(_env_name("env"), "")) != "production":
            values.update(file_env)
    values.update(environ)
    fields = {
        name: values[_env_name(name)]
        for name in Settings.model_fields
        if values.get(_env_name(name), "") != ""
    }
    try:
        settings = Settings.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_env_name(str(err['loc'][0]))}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid configuration: {problems}") from None
    if settings.slack_bot_token and settings.slack_client_id:
        raise SettingsError(
            "Slack: set PARTNERBOT_SLACK_BOT_TOKEN (one workspace) or PARTNERBOT_SLACK_CLIENT_ID "
            "(installation into workspaces through OAuth), not both"
        )
    check_production(settings)
    return settings


def check_production(settings: Settings) -> None:
    """Production refuses to start with a platform half-configured or none at all."""
    if not settings.is_production:
        return
    missing: list[str] = []
    if settings.teams_configured:
        for name in ("teams_app_id", "teams_app_password"):
            if not getattr(settings, name):
                missing.append(_env_name(name))
        if settings.teams_app_type == "SingleTenant" and not settings.teams_tenant_id:
            missing.append(_env_name("teams_tenant_id"))
    missing += settings.slack_missing()
    if missing:
        raise SettingsError("production needs these variables set: " + ", ".join(missing))
    if not settings.teams_configured and not settings.slack_enabled:
        raise SettingsError(
            "production needs at least one platform: set PARTNERBOT_TEAMS_APP_ID and "
            "PARTNERBOT_TEAMS_APP_PASSWORD, or PARTNERBOT_SLACK_SIGNING_SECRET and "
            "PARTNERBOT_SLACK_BOT_TOKEN (or, to install through Slack OAuth, "
            "PARTNERBOT_SLACK_CLIENT_ID, _CLIENT_SECRET and _TOKEN_KEY)"
        )
