"""Service configuration: one TOML file plus environment variables.

Every setting is declared once, as data (:data:`SETTINGS`): its section, name, type, default,
environment variable and help. The same table validates files, applies environment
overrides, and generates the configuration reference (``docs/configuration.md``, checked by a
test). Secrets never live in the file: keys ending in ``_env`` name the variable holding one.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..exceptions import ConfigurationError
from ..producers import PRODUCERS

__all__ = ["SETTINGS", "Config", "EndpointConfig", "Setting", "load_config", "reference_markdown"]

ENV_PREFIX: Final = "SNS_SUBSCRIBER_"


@dataclass(frozen=True, slots=True)
class Setting:
    section: str  # "store", or "endpoints[]" for arrays of tables
    name: str
    type: str  # "str" | "int" | "float" | "bool" | "list[str]"
    default: Any
    help: str
    required: bool = False

    @property
    def key(self) -> str:
        return f"{self.section.rstrip('[]')}.{self.name}"

    @property
    def env(self) -> str | None:
        """Scalar settings of plain sections can be overridden from the environment."""
        if self.section.endswith("[]") or self.type == "list[str]":
            return None
        return f"{ENV_PREFIX}{self.section.upper()}_{self.name.upper()}"


S = Setting
SETTINGS: Final[tuple[Setting, ...]] = (
    S("service", "host", "str", "127.0.0.1", "Address the HTTP server binds to."),
    S("service", "port", "int", 8080, "Port the HTTP server listens on."),
    S("service", "worker", "bool", True, "Run a worker in the serving process (off: run `sns-subscriber worker`)."),
    S("service", "log_format", "str", "text", "Log format: text or json."),
    S("service", "log_level", "str", "info", "Log level: debug, info, warning, error."),
    S("service", "metrics", "bool", True, "Serve Prometheus metrics at /metrics."),
    S("store", "url", "str", "sqlite:///sns-subscriber.db", "Inbox store: sqlite:///path or postgresql://user@host:port/db."),
    S("store", "synchronous", "str", "full", "SQLite durability: full (fsync every commit) or normal."),
    S("verification", "cert_dir", "str", None, "Directory of pinned SNS certificates (file name = URL basename)."),
    S("verification", "fetch", "bool", True, "Download certificates not in cert_dir over HTTPS."),
    S("verification", "max_age_seconds", "int", 3600, "Reject Notifications older than this (replays)."),
    S("verification", "clock_skew_seconds", "int", 300, "Tolerated clock difference with SNS."),
    S("verification", "signature_versions", "list[str]", ["1", "2"], "Accepted SignatureVersion values."),
    S("verification", "fetch_timeout_seconds", "float", 5.0, "Timeout of one certificate download."),
    S("verification", "max_body_bytes", "int", 1048576, "Largest request body accepted (413 above)."),
    S("localstack", "enabled", "bool", False, "Trust LocalStack's certificate URL and SubscribeURL (development only; warns)."),
    S("localstack", "host", "str", "localhost.localstack.cloud:4566", "LocalStack host[:port]."),
    S("worker", "max_attempts", "int", 8, "Attempts before a message is dead."),
    S("worker", "base_delay_seconds", "float", 5.0, "First retry delay; doubles per attempt, with jitter."),
    S("worker", "max_delay_seconds", "float", 3600.0, "Longest retry delay."),
    S("worker", "lease_seconds", "float", 300.0, "How long a claimed message is reserved for one worker."),
    S("worker", "batch_size", "int", 10, "Messages claimed at once."),
    S("worker", "poll_interval_seconds", "float", 0.5, "Idle wait between claims."),
    S("email", "backend", "str", "file", "E-mail backend: file, smtp, ses or console."),
    S("email", "from", "str", "sns-subscriber@localhost", "Sender address."),
    S("email", "outbox_dir", "str", "outbox", "Folder of .eml files (file backend)."),
    S("email", "template_dir", "str", None, "Folder whose templates override the built-in ones."),
    S("email", "fallback", "list[str]", [], "Recipients of budget alerts no owner matches."),
    S("email", "smtp_host", "str", "localhost", "SMTP server."),
    S("email", "smtp_port", "int", 25, "SMTP port."),
    S("email", "smtp_starttls", "bool", False, "Use STARTTLS."),
    S("email", "smtp_ssl", "bool", False, "Use SMTP over TLS (port 465)."),
    S("email", "smtp_username", "str", None, "SMTP login."),
    S("email", "smtp_password_env", "str", "SNS_SUBSCRIBER_SMTP_PASSWORD", "Environment variable holding the SMTP password."),
    S("email", "ses_region", "str", None, "Region of Amazon SES (ses backend)."),
    S("endpoints[]", "path", "str", None, "URL path SNS posts to, e.g. /budget-subscriber.", required=True),
    S("endpoints[]", "topics", "list[str]", None, "Accepted topic ARNs (* wildcards within one field).", required=True),
    S("endpoints[]", "confirm", "str", "auto", "Subscription confirmation: auto, api, url or manual."),
    S("endpoints[]", "actions", "list[str]", [], "Actions for this endpoint's messages: budget-email, webhook:<name>, slack:<name>, log."),
    S("endpoints[]", "producer", "str", None, "Force one producer parser (budgets, cloudwatch, ses, s3, eventbridge, cost-anomaly)."),
    S("endpoints[]", "basic_auth_username", "str", None, "Require HTTP basic auth with this user (subscribe https://user:pass@host/path)."),
    S("endpoints[]", "basic_auth_password_env", "str", None, "Environment variable holding the basic-auth password."),
    S("endpoints[]", "allow_raw_delivery", "bool", False, "Accept raw message delivery (needs basic auth)."),
    S("endpoints[]", "inline", "bool", False, "Run handlers before answering (after the message is stored)."),
    S("console", "enabled", "bool", False, "Serve the operator console (web pages and JSON API) from `serve`, on its own listener."),
    S("console", "host", "str", "127.0.0.1", "Address the console binds to (keep it private: loopback or an admin network)."),
    S("console", "port", "int", 8081, "Port of the console; never the SNS port."),
    S("console", "token_env", "str", "SNS_SUBSCRIBER_CONSOLE_TOKEN", "Environment variable holding the console's admin token (16 characters or more)."),
    S("console", "session_hours", "float", 8.0, "How long a browser login lasts."),
    S("budget_owners[]", "budget", "str", None, "Glob on the budget name, e.g. team-a-*.", required=True),
    S("budget_owners[]", "email", "str", None, "Owner's e-mail address.", required=True),
    S("budget_owners[]", "name", "str", None, "Owner's name for the greeting."),
    S("budget_owners[]", "account", "str", None, "Only for alerts of this 12-digit AWS account."),
    S("webhooks[]", "name", "str", None, "Name used in endpoint actions as webhook:<name> or slack:<name>.", required=True),
    S("webhooks[]", "url", "str", None, "URL to POST to.", required=True),
    S("webhooks[]", "format", "str", "json", "Payload: json (the typed event) or slack (incoming-webhook text)."),
    S("webhooks[]", "secret_env", "str", None, "Environment variable holding the HMAC-SHA256 signing secret."),
    S("webhooks[]", "timeout_seconds", "float", 10.0, "Request timeout."),
    S("webhooks[]", "producers", "list[str]", [], "Only forward these producers (empty: all)."),
)  # fmt: skip

_SECTIONS: Final = {s.section.rstrip("[]"): s.section.endswith("[]") for s in SETTINGS}


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    path: str
    topics: tuple[str, ...]
    confirm: str = "auto"
    actions: tuple[str, ...] = ()
    producer: str | None = None
    basic_auth_username: str | None = None
    basic_auth_password_env: str | None = None
    allow_raw_delivery: bool = False
    inline: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    """Validated configuration. ``values[section][name]`` for plain sections; arrays of
    tables as lists of dicts; ``source`` names the file for error messages."""

    values: Mapping[str, Mapping[str, Any]]
    endpoints: tuple[EndpointConfig, ...]
    tables: Mapping[str, tuple[Mapping[str, Any], ...]]
    source: str = "<defaults>"
    base_dir: Path = field(default_factory=Path.cwd)

    def get(self, key: str) -> Any:
        section, _, name = key.partition(".")
        return self.values[section][name]

    def path(self, key: str) -> Path | None:
        """A path setting, resolved against the configuration file's folder."""
        value = self.get(key)
        if value is None:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def secret(self, env_name: str | None) -> str | None:
        return os.environ.get(env_name) if env_name else None

    @property
    def store_url(self) -> str:
        url: str = self.get("store.url")
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
            return prefix + str(self.base_dir / url[len(prefix) :])
        return url


def _coerce(setting: Setting, value: Any, where: str) -> Any:
    kind = setting.type
    ok = (
        (kind == "str" and isinstance(value, str))
        or (kind == "bool" and isinstance(value, bool))
        or (kind == "int" and isinstance(value, int) and not isinstance(value, bool))
        or (kind == "float" and isinstance(value, int | float) and not isinstance(value, bool))
        or (kind == "list[str]" and isinstance(value, list) and all(isinstance(v, str) for v in value))
    )
    if not ok:
        raise ConfigurationError(
            f"{where}: {setting.key} must be {_describe(kind)}, not {type(value).__name__}", value=setting.key
        )
    if kind == "float":
        return float(value)
    if kind == "list[str]":
        return tuple(value)
    return value


def _describe(kind: str) -> str:
    return {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "list[str]": "a list of strings",
    }[kind]


def _from_env(setting: Setting, text: str) -> Any:
    where = f"environment variable {setting.env}"
    try:
        if setting.type == "int":
            return int(text)
        if setting.type == "float":
            return float(text)
    except ValueError:
        raise ConfigurationError(f"{where} must be {_describe(setting.type)}", value=text) from None
    if setting.type == "bool":
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(f"{where} must be true or false", value=text)
    return text


def _table(section: str, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    known = {s.name: s for s in SETTINGS if s.section.rstrip("[]") == section}
    out: dict[str, Any] = {}
    for name, value in raw.items():
        setting = known.get(name)
        if setting is None:
            raise ConfigurationError(
                f"{where}: unknown key {section}.{name} (known: {', '.join(sorted(known))})",
                value=f"{section}.{name}",
            )
        out[name] = _coerce(setting, value, where)
    for name, setting in known.items():
        if name not in out:
            if setting.required:
                raise ConfigurationError(f"{where}: {section}.{name} is required", value=f"{section}.{name}")
            out[name] = tuple(setting.default) if isinstance(setting.default, list) else setting.default
    return out


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
) -> Config:
    """Read and validate ``path`` (or ``data``), apply environment overrides."""
    environ = os.environ if environ is None else environ
    source = "<defaults>"
    base_dir = Path.cwd()
    if data is None and path is not None:
        file = Path(path)
        source = str(file)
        base_dir = file.resolve().parent
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigurationError(f"configuration file {file} does not exist", value=str(file)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"cannot read configuration file {file}: {exc}", value=str(file)
            ) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{file}: invalid TOML: {exc}", value=str(file)) from None
    data = data or {}
    values: dict[str, dict[str, Any]] = {}
    tables: dict[str, tuple[Mapping[str, Any], ...]] = {}
    for section in data:
        if section not in _SECTIONS:
            raise ConfigurationError(
                f"{source}: unknown section [{section}] (known: {', '.join(sorted(_SECTIONS))})",
                value=section,
            )
    for section, is_array in _SECTIONS.items():
        raw = data.get(section, [] if is_array else {})
        if is_array:
            if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
                raise ConfigurationError(
                    f"{source}: {section} must be an array of tables ([[{section}]])", value=section
                )
            tables[section] = tuple(
                _table(section, t, f"{source} [[{section}]] #{i + 1}") for i, t in enumerate(raw)
            )
        else:
            if not isinstance(raw, dict):
                raise ConfigurationError(f"{source}: {section} must be a table ([{section}])", value=section)
            table = _table(section, raw, source)
            for setting in SETTINGS:
                if setting.section == section and setting.env and setting.env in environ:
                    table[setting.name] = _from_env(setting, environ[setting.env])
            values[section] = table
    endpoints = tuple(EndpointConfig(**t) for t in tables["endpoints"])
    config = Config(values, endpoints, tables, source, base_dir)
    _validate(config)
    return config


def _validate(config: Config) -> None:
    source = config.source
    choices = {
        "service.log_format": ("text", "json"),
        "service.log_level": ("debug", "info", "warning", "error"),
        "store.synchronous": ("full", "normal"),
        "email.backend": ("file", "smtp", "ses", "console"),
    }
    for key, allowed in choices.items():
        if config.get(key) not in allowed:
            raise ConfigurationError(
                f"{source}: {key} must be one of {', '.join(allowed)}", value=str(config.get(key))
            )
    if not 0 < config.get("service.port") < 65536:
        raise ConfigurationError(
            f"{source}: service.port must be 1-65535", value=str(config.get("service.port"))
        )
    if not 0 < config.get("console.port") < 65536:
        raise ConfigurationError(
            f"{source}: console.port must be 1-65535", value=str(config.get("console.port"))
        )
    if config.get("console.enabled") and config.get("console.port") == config.get("service.port"):
        raise ConfigurationError(
            f"{source}: console.port must differ from service.port: the SNS port never serves the console",
            value=str(config.get("console.port")),
        )
    if not 0 < config.get("console.session_hours") <= 24 * 30:
        raise ConfigurationError(
            f"{source}: console.session_hours must be more than 0 and at most 720",
            value=str(config.get("console.session_hours")),
        )
    paths = [e.path for e in config.endpoints]
    for endpoint in config.endpoints:
        if not endpoint.path.startswith("/") or endpoint.path in ("/healthz", "/readyz", "/metrics"):
            raise ConfigurationError(
                f"{source}: endpoint path must start with / and not be a reserved path", value=endpoint.path
            )
        if paths.count(endpoint.path) > 1:
            raise ConfigurationError(
                f"{source}: endpoint path {endpoint.path} is declared twice", value=endpoint.path
            )
        if not endpoint.topics:
            raise ConfigurationError(
                f"{source}: endpoint {endpoint.path} needs at least one topic", value=endpoint.path
            )
        if endpoint.confirm not in ("auto", "api", "url", "manual"):
            raise ConfigurationError(
                f"{source}: endpoints.confirm must be auto, api, url or manual", value=endpoint.confirm
            )
        if endpoint.producer is not None and endpoint.producer not in PRODUCERS:
            raise ConfigurationError(
                f"{source}: endpoint {endpoint.path}: producer must be one of {', '.join(PRODUCERS)}",
                value=endpoint.producer,
            )
        if endpoint.allow_raw_delivery and not endpoint.basic_auth_username:
            raise ConfigurationError(
                f"{source}: endpoint {endpoint.path} allows raw delivery without basic auth",
                value=endpoint.path,
            )
    cert_dir = config.path("verification.cert_dir")
    if cert_dir is not None and not cert_dir.is_dir():
        raise ConfigurationError(
            f"{source}: verification.cert_dir {cert_dir} is not a readable directory", value=str(cert_dir)
        )
    if cert_dir is not None and not os.access(cert_dir, os.R_OK | os.X_OK):
        raise ConfigurationError(
            f"{source}: verification.cert_dir {cert_dir} is not readable", value=str(cert_dir)
        )
    url = config.get("store.url")
    if not (url.startswith("sqlite:///") or url.startswith(("postgresql://", "postgres://"))):
        raise ConfigurationError(
            f"{source}: store.url must start with sqlite:/// or postgresql://", value=url
        )


def reference_markdown() -> str:
    """The configuration reference, generated from :data:`SETTINGS`."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `sns_subscriber.service.config.SETTINGS` by `sns-subscriber config-reference`;",
        "a test fails when this file is out of date. Scalar keys of plain sections can be",
        "overridden by the environment variable shown. Paths are relative to the file's folder.",
        "",
    ]
    for section, is_array in _SECTIONS.items():
        lines += [
            f"## `[[{section}]]`" if is_array else f"## `[{section}]`",
            "",
            "| key | type | default | environment | meaning |",
            "|---|---|---|---|---|",
        ]
        for s in SETTINGS:
            if s.section.rstrip("[]") != section:
                continue
            default = "required" if s.required else ("—" if s.default is None else f"`{_toml(s.default)}`")
            lines.append(
                f"| `{s.name}` | {s.type} | {default} | {f'`{s.env}`' if s.env else '—'} | {s.help} |"
            )
        lines.append("")
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)
