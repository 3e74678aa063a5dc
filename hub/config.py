"""Configuration: a TOML file (config/returnhub.toml is the embedded default) overridden by
``RETURNHUB_*`` environment variables (nested with ``__``: ``RETURNHUB_SERVER__PORT=9000``).

Secrets are :class:`~pydantic.SecretStr`. Any connector setting ``X`` may instead be given as
``X_file = "/run/secrets/..."``, whose content (stripped) becomes the value, or through the
environment (``RETURNHUB_SINKS__MAIL__API_KEY``). Everything is validated at start-up and every
problem is reported at once, each with its path.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hub.alerts.settings import AlertSettings
from hub.campaigns.settings import CampaignSettings
from hub.config_connectors import (  # noqa: F401 (re-exported: hub.config is the import path)
    PROVIDER_POLICY_KEYS,
    SOURCE_POLICY_KEYS,
    ProviderPolicy,
    SourcePolicy,
)
from hub.config_notifications import (  # noqa: F401 (re-exported)
    BrandOverride,
    BrandSettings,
    NotificationSettings,
    QuietHours,
    StageSettings,
)
from hub.config_routing import (  # noqa: F401 (re-exported)
    CategoryRoute,
    ChannelSettings,
    route_provider_lists,
)
from hub.config_section import Section as _Section
from hub.config_templates import TemplateLibrarySettings
from hub.rules.model import RuleSettings

#: Where the embedded default lives, relative to the working directory (the checkout).
DEFAULT_CONFIG_PATH = Path("config/returnhub.toml")
#: Environment variable naming the config file, when --config is not given.
CONFIG_ENV_VAR = "RETURNHUB_CONFIG"
#: A connector setting that starts with this is a path in the data dir, so that
#: ``RETURNHUB_DATA_DIR`` moves the default config's secrets and outbox along with the rest.
DATA_DIR_PLACEHOLDER = "{data_dir}"


class ConfigError(Exception):
    """Invalid configuration; ``problems`` lists every ``path: message`` found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = problems


class ServerSettings(_Section):
    """The HTTP server."""

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on (0: any free port).")
    public_url: str | None = Field(
        None, description="Base URL platforms and providers reach the hub at; signature schemes "
        "that sign the URL (Twilio, Mandrill) need it exact. Default: http://host:port.")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest webhook body accepted "
                                "from a source (a platform's event).")
    max_status_body_bytes: int = Field(
        4_194_304, ge=1024, description="Largest provider status webhook accepted: providers "
        "batch their events (Mandrill up to 1,000 per post, over 1 MB with opens and clicks), "
        "and a 413 loses a whole batch for good.")
    store_wait_seconds: float = Field(
        5.0, gt=0, description="How long a webhook waits for its events to be committed before "
        "it is answered 503 (Retry-After) instead: a database that hangs (a network dropping "
        "packets) would otherwise hold every request open. Events committed after that answer "
        "are kept, and the platform's retry finds them there (200, duplicate).")
    processes: Annotated[int, Field(ge=0)] | Literal["auto"] = Field(
        "auto", description="Processes `serve` runs on the one port, each with ingress and "
        "workers: 0 or \"auto\" = one per core (capped by a container's CPU quota), 1 = a "
        "single process. Rate limits of sources and sinks are for the hub: each process gets "
        "its share.")

    def base_url(self) -> str:
        """The public URL without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class DatabaseSettings(_Section):
    """The database every node shares."""

    url: str | None = Field(
        None, description="SQLAlchemy async URL. Default: SQLite file data_dir/returnhub.db. "
        "PostgreSQL: postgresql+asyncpg://user@host/db.")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL", description="SQLite fsync policy: FULL survives power loss, NORMAL only crashes.")
    pool_size: int = Field(8, ge=1, description="Connections per process (PostgreSQL).")
    statement_timeout_seconds: float = Field(
        60.0, ge=0, description="PostgreSQL: how long one statement, or opening a connection, "
        "may wait for the server before it fails as if the database were down. A network that "
        "drops packets would otherwise hold it for the kernel's TCP timeout (about 15 minutes). "
        "Migrations have no limit. 0: no limit.")
    echo: bool = Field(False, description="Log every SQL statement (debugging only).")


class SecuritySettings(_Section):
    """Keys for customer data at rest."""

    pii_keys: list[SecretStr] = Field(
        default_factory=list, description="Fernet keys; the first encrypts, all decrypt "
        "(rotation). "
        "Empty: a key is generated once into data_dir/secrets/pii.key.")
    lookup_key: SecretStr | None = Field(
        None, description="Key of the keyed hash used to find customers by email or phone. "
        "Empty: generated once into data_dir/secrets/lookup.key.")
    portal_key: SecretStr | None = Field(
        None, description="Key that signs customer portal links. Empty: generated once into "
        "data_dir/secrets/portal.key.")
    outbound_allow: list[str] = Field(
        default_factory=list, description="Non-public networks (CIDR) the hub may call out "
        "to, e.g. an ERP on the office LAN; every other private, loopback or link-local "
        "destination is refused after DNS resolution.")

    @field_validator("outbound_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an IP network (CIDR)") from None
        return value


class PortalSettings(_Section):
    """The customer portal's signed links."""

    link_ttl_days: float = Field(60, gt=0, description="How long a portal link in a message "
                                 "stays valid.")


class LoggingSettings(_Section):
    """Structured logging."""

    format: Literal["auto", "json", "console"] = Field(
        "auto", description="json for production, console for a terminal; auto picks by tty.")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class WorkerSettings(_Section):
    """The background workers that apply events and deliver notifications."""

    batch_size: int = Field(200, ge=1, description="Rows claimed per database round trip.")
    concurrency: int = Field(64, ge=1, description="Sends in flight at once per process.")
    lease_seconds: float = Field(60, gt=0, description="How long a claim lasts before another "
                                 "worker may take the row over (a crashed worker's work).")
    idle_poll_seconds: float = Field(0.25, gt=0, description="How often an idle worker looks "
                                     "for work written by another process.")
    max_attempts: int = Field(8, ge=1, description="Delivery attempts before a dead letter.")
    retry_base_seconds: float = Field(2.0, gt=0, description="First retry delay (exponential, "
                                      "full jitter).")
    retry_max_seconds: float = Field(900.0, gt=0, description="Longest delay between retries.")
    event_max_attempts: int = Field(10, ge=1, description="Tries to apply an inbox event before "
                                    "it is parked as failed.")
    send_timeout_seconds: float = Field(15.0, gt=0, description="Longest wait for a provider.")
    recovery_share: float = Field(
        0.25, gt=0, le=1, description="Share of `concurrency` that recovery work (reconciling an "
        "unknown outcome, failing over a missing receipt, a dead worker's sends) may hold "
        "ahead of the pending backlog; beyond it, it waits behind due pending messages.")


class PluginSettings(_Section):
    """Plugin loading."""

    disabled: list[str] = Field(default_factory=list,
                                description="Entry-point names not to load.")


class Settings(BaseSettings):
    """The root of configuration."""

    model_config = SettingsConfigDict(env_prefix="RETURNHUB_", env_nested_delimiter="__",
                                      extra="forbid")

    data_dir: Path = Field(Path("data"), description="Database, secrets and outbox folder.")
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    plugins: PluginSettings = Field(default_factory=PluginSettings)
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sinks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    channels: dict[str, ChannelSettings] = Field(default_factory=dict)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    portal: PortalSettings = Field(default_factory=PortalSettings)
    templates: TemplateLibrarySettings = Field(default_factory=TemplateLibrarySettings)
    campaigns: CampaignSettings = Field(default_factory=CampaignSettings)
    rules: list[RuleSettings] = Field(default_factory=list, description="Evaluated in order "
                                      "on every event that moves a return.")
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs; the environment must win over it.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        for sections in (self.sources, self.sinks):  # the final data dir: env included
            for section in sections.values():
                for key, value in section.items():
                    if isinstance(value, str) and value.startswith(DATA_DIR_PLACEHOLDER):
                        section[key] = f"{self.data_dir}{value[len(DATA_DIR_PLACEHOLDER):]}"
        problems = []
        for channel, route in self.channels.items():
            for path, providers in route_provider_lists(channel, route):
                problems += [f"{path}: no sink named {p!r}" for p in providers
                             if p not in self.sinks]
        for stage, stage_settings in self.notifications.stages.items():
            for channel in [*stage_settings.channels, *stage_settings.fallback]:
                if channel not in self.channels:
                    problems.append(f"notifications.stages.{stage}.channels: channel {channel!r} "
                                    f"has no [channels.{channel}] section")
        problems += self.alerts.channel_problems(set(self.channels))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def database_url(self) -> str:
        """The database URL, defaulting to the SQLite file in the data dir."""
        return self.database.url or f"sqlite+aiosqlite:///{self.data_dir / 'returnhub.db'}"


def resolve_config_path(path: str | os.PathLike | None) -> Path | None:
    """The config file to read: the argument, else $RETURNHUB_CONFIG, else the embedded default
    when it exists (None: defaults and environment only)."""
    if path:
        return Path(path)
    if os.environ.get(CONFIG_ENV_VAR):
        return Path(os.environ[CONFIG_ENV_VAR])
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Read and validate the root settings; raise :class:`ConfigError` listing every problem."""
    config_path = resolve_config_path(path)
    data: dict[str, Any] = {}
    if config_path is not None:
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([f"{config_path}: file not found"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{config_path}: not valid TOML ({exc})"]) from None
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_errors(exc)) from None


def format_validation_errors(exc: ValidationError, prefix: str = "") -> list[str]:
    """``path: message`` lines; input values are left out (they may be secrets or PII)."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        path = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        message = error["msg"]
        if error["type"] == "missing":
            message = "field required"
        elif error["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling)"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        lines.append(f"{path}: {message}" if path else message)
    return lines


def read_secret_files(raw: dict[str, Any], base: Path | None = None
                      ) -> tuple[dict[str, Any], list[str]]:
    """Replace every ``X_file`` key with ``X`` read from that file. Returns the new dict and the
    problems (unreadable files), naming keys, never contents."""
    resolved: dict[str, Any] = {}
    problems = []
    for key, value in raw.items():
        if key.endswith("_file") and isinstance(value, str):
            target = key.removesuffix("_file")
            file_path = Path(value)
            if base is not None and not file_path.is_absolute():
                file_path = base / file_path
            try:
                resolved[target] = file_path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                problems.append(f"{key}: cannot read {file_path} ({exc.strerror}; "
                                f"`returnhub init` creates missing secrets under data_dir)")
        else:
            resolved[key] = value
    return resolved, problems
