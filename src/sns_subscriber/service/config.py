"""Service configuration: one TOML file plus environment variables.

Every setting is declared once, as data (:data:`SETTINGS`): its section, name, type, default,
environment variable and help. The same table validates files, applies environment
overrides, and generates the configuration reference (``docs/configuration.md``, checked by a
test). Secrets never live in the file: keys ending in ``_env`` name the variable holding one.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..actions.email import BACKEND_KINDS
from ..actions.webhook import PAYLOAD_FORMATS
from ..confirmation import CONFIRM_MODES
from ..exceptions import ConfigurationError
from ..producers import PRODUCERS
from ..signing import SIGNATURE_VERSIONS
from .logs import LOG_FORMATS, LOG_LEVELS

__all__ = [
    "SETTINGS",
    "Config",
    "EndpointConfig",
    "QueueConfig",
    "Setting",
    "load_config",
    "reference_markdown",
]

ENV_PREFIX: Final = "SNS_SUBSCRIBER_"


@dataclass(frozen=True, slots=True)
class Setting:
    section: str  # "store", or "endpoints[]" for arrays of tables
    name: str
    type: str  # "str" | "int" | "float" | "bool" | "list[str]"
    default: Any
    help: str
    required: bool = False
    #: The accepted values (each item's, for lists); one source for validation and the docs.
    choices: tuple[str, ...] = ()

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
    S("service", "log_format", "str", "text", "Log format.", choices=LOG_FORMATS),
    S("service", "log_level", "str", "info", "Log level.", choices=LOG_LEVELS),
    S("service", "metrics", "bool", True, "Serve Prometheus metrics at /metrics."),
    S("service", "metrics_token_env", "str", None, "Environment variable holding a bearer token that /metrics then requires."),
    S("service", "metrics_port", "int", None, "Serve /metrics on its own listener at this port instead of the main one."),
    S("service", "metrics_host", "str", "127.0.0.1", "Address the separate metrics listener binds to."),
    S("service", "http", "str", "auto", "HTTP/1.1 parser (auto: httptools when installed).", choices=("auto", "httptools", "h11")),
    S("service", "max_connections", "int", 1000, "Open connections at most; past it the oldest one still sending its request head is closed."),
    S("service", "header_timeout_seconds", "float", 10.0, "Close a connection whose request line and headers are not complete within this time."),
    S("service", "body_timeout_seconds", "float", 10.0, "Answer 408 and close when a request body is not complete within this time."),
    S("service", "keep_alive_seconds", "int", 5, "Close a connection idle this long between requests."),
    S("service", "request_timeout_seconds", "float", 10.0, "Answer 503 with Retry-After when a message is not stored within this time (SNS waits 15 s)."),
    S("store", "url", "str", "sqlite:///sns-subscriber.db", "Inbox store: sqlite:///path or postgresql://user@host:port/db."),
    S("store", "synchronous", "str", "full", "SQLite durability: full (fsync every commit) or normal.", choices=("full", "normal")),
    S("store", "max_pending", "int", 4096, "Messages that may wait for a commit; past it new ones get 503 with Retry-After at once."),
    S("store", "retention_days", "float", 30.0, "Days done messages are kept (the worker deletes older ones in small batches; 0 keeps them forever). MessageIds inside the replay window are always kept."),
    S("store", "dead_retention_days", "float", 90.0, "Days dead messages are kept (0 keeps them forever)."),
    S("verification", "cert_dir", "str", None, "Directory of pinned SNS certificates (file name = URL basename)."),
    S("verification", "fetch", "bool", True, "Download certificates not in cert_dir over HTTPS."),
    S("verification", "max_age_seconds", "int", 3600, "Reject Notifications older than this (replays)."),
    S("verification", "clock_skew_seconds", "int", 300, "Tolerated clock difference with SNS."),
    S("verification", "signature_versions", "list[str]", ["1", "2"], "Accepted SignatureVersion values.", choices=tuple(SIGNATURE_VERSIONS)),
    S("verification", "fetch_timeout_seconds", "float", 5.0, "Timeout of one certificate download."),
    S("verification", "known_urls_file", "str", None, "File (0600) remembering certificate URLs that verified a message, so a restart never rations them."),
    S("verification", "max_body_bytes", "int", 1048576, "Largest request body accepted (413 above)."),
    S("localstack", "enabled", "bool", False, "Trust LocalStack's certificate URL and SubscribeURL (development only; warns)."),
    S("localstack", "host", "str", "localhost.localstack.cloud:4566", "LocalStack host[:port]."),
    S("aws", "region", "str", "us-east-1", "Default AWS region of the SQS, SNS and Budgets calls (a topic's own region wins for SNS)."),
    S("aws", "endpoint_url", "str", None, "Send every AWS call here (moto server, VPC endpoint); LocalStack mode uses http://<localstack.host>."),
    S("worker", "max_attempts", "int", 8, "Attempts before a message is dead."),
    S("worker", "base_delay_seconds", "float", 5.0, "First retry delay; doubles per attempt, with jitter."),
    S("worker", "max_delay_seconds", "float", 3600.0, "Longest retry delay."),
    S("worker", "lease_seconds", "float", 300.0, "How long a claimed message is reserved for one worker."),
    S("worker", "batch_size", "int", 10, "Messages claimed at once."),
    S("worker", "poll_interval_seconds", "float", 0.5, "Idle wait between claims."),
    S("email", "backend", "str", "file", "E-mail backend.", choices=BACKEND_KINDS),
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
    S("budgets", "owner_tag", "str", None, "Budget tag naming its owners' e-mail addresses (separated by commas or spaces); read with ListTagsForResource, before [[budget_owners]]."),
    S("budgets", "cc_tag", "str", None, "Budget tag naming people in copy of its alerts."),
    S("budgets", "slack_tag", "str", None, "Budget tag naming [[webhooks]] entries (Slack or Teams channels) to post its alerts to (action budget-slack)."),
    S("budgets", "tag_cache_seconds", "float", 3600.0, "How long a budget's tags are reused before they are read again."),
    S("budgets", "tag_cache_entries", "int", 1024, "Most budgets whose tags are kept in memory."),
    S("budgets", "digest_hour", "int", 8, "Hour (UTC, 0-23) at which daily and weekly digests are sent."),
    S("budgets", "digest_weekday", "str", "monday", "Day on which weekly digests are sent."),
    S("endpoints[]", "path", "str", None, "URL path SNS posts to, e.g. /budget-subscriber.", required=True),
    S("endpoints[]", "topics", "list[str]", None, "Accepted topic ARNs (* wildcards within one field).", required=True),
    S("endpoints[]", "confirm", "str", "auto", "Subscription confirmation.", choices=CONFIRM_MODES),
    S("endpoints[]", "actions", "list[str]", [], "Actions for this endpoint's messages: budget-email, budget-slack, anomaly-email, webhook:<name>, slack:<name>, log."),
    S("endpoints[]", "producer", "str", None, "Force one producer parser.", choices=PRODUCERS),
    S("endpoints[]", "basic_auth_username", "str", None, "Require HTTP basic auth with this user (subscribe https://user:pass@host/path)."),
    S("endpoints[]", "basic_auth_password_env", "str", None, "Environment variable holding the basic-auth password."),
    S("endpoints[]", "allow_raw_delivery", "bool", False, "Accept raw message delivery (needs basic auth)."),
    S("endpoints[]", "inline", "bool", False, "Run handlers before answering (after the message is stored)."),
    S("endpoints[]", "expect_within", "str", None, "Alert when no message arrives within this span, e.g. \"26h\" for daily Budgets alerts (s, m, h, d)."),
    S("endpoints[]", "max_lag_seconds", "int", None, "Alert when SNS delivers a message more than this many seconds after its Timestamp."),
    S("queues[]", "url", "str", None, "SQS queue URL subscribed to SNS topics.", required=True),
    S("queues[]", "topics", "list[str]", None, "Accepted topic ARNs (* wildcards within one field).", required=True),
    S("queues[]", "actions", "list[str]", [], "Actions for this queue's messages (as for endpoints)."),
    S("queues[]", "producer", "str", None, "Force one producer parser (as for endpoints)."),
    S("queues[]", "raw", "bool", False, "Raw message delivery: no SNS signature, trust comes from IAM on the queue (needs exactly one topic without wildcards)."),
    S("queues[]", "wait_seconds", "int", 20, "Long-poll wait of one ReceiveMessage (0-20)."),
    S("queues[]", "batch_size", "int", 10, "Messages received at once (1-10)."),
    S("queues[]", "visibility_timeout_seconds", "int", 60, "How long a received message stays hidden before SQS redelivers it."),
    S("alerts", "to", "list[str]", [], "Where alerts go: email:<address>, slack:<name>, webhook:<name> (a [[webhooks]] entry). Empty: no alerts."),
    S("alerts", "renotify_minutes", "int", 240, "Remind of an alert still open after this many minutes."),
    S("alerts", "evaluate_every_seconds", "float", 30.0, "How often serve and worker evaluate the alerts."),
    S("alerts", "dead_letter", "bool", True, "Alert on each dead message (with the command that replays it)."),
    S("alerts", "silence", "bool", True, "Alert when an endpoint with expect_within receives nothing that long."),
    S("alerts", "lag", "bool", True, "Alert when SNS delivers later than an endpoint's max_lag_seconds."),
    S("alerts", "signature_failures", "bool", True, "Alert on a burst of requests failing verification (403)."),
    S("alerts", "signature_failures_threshold", "int", 20, "403 answers per endpoint within the window that open the alert."),
    S("alerts", "signature_failures_window_minutes", "int", 10, "Window the 403 answers are counted over."),
    S("alerts", "pending_subscription", "bool", True, "Alert on a subscription left pending (SNS deletes it after 48 h)."),
    S("alerts", "pending_subscription_minutes", "int", 60, "Minutes a subscription may stay pending."),
    S("alerts", "worker_stalled", "bool", True, "Alert when accepted messages wait for a worker too long."),
    S("alerts", "worker_stalled_seconds", "int", 300, "Seconds the oldest unclaimed message may wait."),
    S("alerts", "store_errors", "bool", True, "Alert when the store keeps failing (tracked per process)."),
    S("alerts", "store_errors_seconds", "int", 60, "Seconds of store failures before the alert opens."),
    S("console", "enabled", "bool", False, "Serve the operator console (web pages and JSON API) from `serve`, on its own listener."),
    S("console", "host", "str", "127.0.0.1", "Address the console binds to (keep it private: loopback or an admin network)."),
    S("console", "port", "int", 8081, "Port of the console; never the SNS port."),
    S("console", "token_env", "str", "SNS_SUBSCRIBER_CONSOLE_TOKEN", "Environment variable holding the console's admin token (16 characters or more)."),
    S("console", "session_hours", "float", 8.0, "How long a browser login lasts."),
    S("budget_owners[]", "budget", "str", None, "Glob on the budget name, e.g. team-a-*.", required=True),
    S("budget_owners[]", "email", "str", None, "Owner's e-mail address.", required=True),
    S("budget_owners[]", "name", "str", None, "Owner's name for the greeting."),
    S("budget_owners[]", "account", "str", None, "Only for alerts of this 12-digit AWS account."),
    S("budget_owners[]", "digest", "str", None, "daily or weekly: collect this owner's alerts into one e-mail (sent at budgets.digest_hour)."),
    S("anomaly_owners[]", "email", "str", None, "Owner's e-mail address for Cost Anomaly Detection alerts (action anomaly-email).", required=True),
    S("anomaly_owners[]", "name", "str", None, "Owner's name for the greeting."),
    S("anomaly_owners[]", "account", "str", None, "Claim anomalies whose root causes name this 12-digit linked account."),
    S("anomaly_owners[]", "monitor", "str", None, "Claim anomalies of monitors whose name matches this glob."),
    S("webhooks[]", "name", "str", None, "Name used in endpoint actions as webhook:<name> or slack:<name>.", required=True),
    S("webhooks[]", "url", "str", None, "URL to POST to.", required=True),
    S("webhooks[]", "format", "str", "json", "Payload: json (the typed event), slack (incoming-webhook blocks) or teams (Adaptive Card for a Teams Workflows webhook).", choices=PAYLOAD_FORMATS),
    S("webhooks[]", "secret_env", "str", None, "Environment variable holding the HMAC-SHA256 signing secret."),
    S("webhooks[]", "timeout_seconds", "float", 10.0, "Request timeout."),
    S("webhooks[]", "producers", "list[str]", [], "Only forward these producers (empty: all)."),
    S("webhooks[]", "rate_per_second", "float", 1.0, "Most POSTs a second to this destination (Slack allows about 1)."),
    S("webhooks[]", "max_wait_seconds", "float", 30.0, "Longest wait for a 429's Retry-After before the message is put back for later (not counted as an attempt)."),
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
    expect_within: str | None = None
    max_lag_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class QueueConfig:
    url: str
    topics: tuple[str, ...]
    actions: tuple[str, ...] = ()
    producer: str | None = None
    raw: bool = False
    wait_seconds: int = 20
    batch_size: int = 10
    visibility_timeout_seconds: int = 60

    @property
    def name(self) -> str:
        """The queue's name: the last segment of its URL."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def endpoint(self) -> str:
        """The inbox ``endpoint`` value (and router key) of this queue's messages."""
        return f"sqs:{self.name}"


@dataclass(frozen=True, slots=True)
class Config:
    """Validated configuration. ``values[section][name]`` for plain sections; arrays of
    tables as lists of dicts; ``source`` names the file for error messages."""

    values: Mapping[str, Mapping[str, Any]]
    endpoints: tuple[EndpointConfig, ...]
    tables: Mapping[str, tuple[Mapping[str, Any], ...]]
    source: str = "<defaults>"
    base_dir: Path = field(default_factory=Path.cwd)
    #: Things that are not errors but probably mistakes (an unknown SNS_SUBSCRIBER_* variable).
    warnings: tuple[str, ...] = ()

    @property
    def queues(self) -> tuple[QueueConfig, ...]:
        return tuple(QueueConfig(**t) for t in self.tables.get("queues", ()))

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
            # So that "examples/../var/x.db" reads (and logs) as "var/x.db".
            return prefix + os.path.normpath(self.base_dir / url[len(prefix) :])
        return url


class _Problems:
    """Every problem found in one configuration, reported together at the end."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[tuple[str, str]] = []  # (sentence, offending value)

    def add(self, sentence: str, value: str) -> None:
        self.found.append((sentence, value))

    def raise_if_any(self) -> None:
        if not self.found:
            return
        if len(self.found) == 1:
            [(sentence, value)] = self.found
            raise ConfigurationError(f"{self.source}: {sentence}", value=value)
        lines = "".join(f"\n  - {sentence}" for sentence, _ in self.found)
        raise ConfigurationError(f"{self.source}: {len(self.found)} problems:{lines}", value=self.found[0][1])


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]}?"
    return f"known: {', '.join(sorted(known))}"


def _coerce(setting: Setting, value: Any, where: str, problems: _Problems) -> Any:
    kind = setting.type
    ok = (
        (kind == "str" and isinstance(value, str))
        or (kind == "bool" and isinstance(value, bool))
        or (kind == "int" and isinstance(value, int) and not isinstance(value, bool))
        or (kind == "float" and isinstance(value, int | float) and not isinstance(value, bool))
        or (kind == "list[str]" and isinstance(value, list) and all(isinstance(v, str) for v in value))
    )
    if not ok:
        problems.add(
            f"{where}{setting.key} must be {_describe(kind)}, not {type(value).__name__}", setting.key
        )
        return tuple(setting.default) if isinstance(setting.default, list) else setting.default
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


def _table(section: str, raw: Mapping[str, Any], where: str, problems: _Problems) -> dict[str, Any]:
    known = {s.name: s for s in SETTINGS if s.section.rstrip("[]") == section}
    out: dict[str, Any] = {}
    for name, value in raw.items():
        setting = known.get(name)
        if setting is None:
            hint = _suggest(name, list(known))
            problems.add(f"{where}unknown key {section}.{name} ({hint})", f"{section}.{name}")
            continue
        out[name] = _coerce(setting, value, where, problems)
    for name, setting in known.items():
        if name not in out:
            if setting.required and name not in raw:
                problems.add(f"{where}{section}.{name} is required", f"{section}.{name}")
            out[name] = tuple(setting.default) if isinstance(setting.default, list) else setting.default
    return out


def _known_environment(data: Mapping[str, Any]) -> set[str]:
    """Every SNS_SUBSCRIBER_* variable something reads: overrides, and the variables that
    ``*_env`` keys name (their defaults and the values this file gives them)."""
    names = {s.env for s in SETTINGS if s.env} | {f"{ENV_PREFIX}CONFIG"}
    names |= {s.default for s in SETTINGS if s.name.endswith("_env") and isinstance(s.default, str)}
    for raw in data.values():
        for table in raw if isinstance(raw, list) else [raw]:
            if isinstance(table, dict):
                names |= {v for k, v in table.items() if k.endswith("_env") and isinstance(v, str)}
    return names


def _environment_warnings(environ: Mapping[str, str], data: Mapping[str, Any]) -> tuple[str, ...]:
    known = _known_environment(data)
    warnings = []
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known:
            hint = _suggest(name, sorted(known))
            warnings.append(f"environment variable {name} is not a setting and is ignored ({hint})")
    return tuple(warnings)


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
) -> Config:
    """Read and validate ``path`` (or ``data``), apply environment overrides.

    Every problem is reported at once, in one :class:`ConfigurationError`. Environment
    variables that look like settings (``SNS_SUBSCRIBER_*``) but are none end up in
    :attr:`Config.warnings`.
    """
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
    problems = _Problems(source)
    values: dict[str, dict[str, Any]] = {}
    tables: dict[str, tuple[Mapping[str, Any], ...]] = {}
    for section in data:
        if section not in _SECTIONS:
            hint = _suggest(section, list(_SECTIONS))
            problems.add(f"unknown section [{section}] ({hint})", section)
    for section, is_array in _SECTIONS.items():
        raw = data.get(section, [] if is_array else {})
        if is_array:
            if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
                problems.add(f"{section} must be an array of tables ([[{section}]])", section)
                raw = []
            tables[section] = tuple(
                _table(section, t, f"[[{section}]] #{i + 1}: ", problems) for i, t in enumerate(raw)
            )
        else:
            if not isinstance(raw, dict):
                problems.add(f"{section} must be a table ([{section}])", section)
                raw = {}
            table = _table(section, raw, "", problems)
            for setting in SETTINGS:
                if setting.section == section and setting.env and setting.env in environ:
                    try:
                        table[setting.name] = _from_env(setting, environ[setting.env])
                    except ConfigurationError as exc:
                        problems.add(exc.reason, exc.value or setting.env)
            values[section] = table
    # Missing required keys were reported above; the endpoints built here only feed checks.
    endpoints = tuple(
        EndpointConfig(**{**t, "path": t["path"] or "", "topics": t["topics"] or ()})
        for t in tables["endpoints"]
    )
    config = Config(values, endpoints, tables, source, base_dir, _environment_warnings(environ, data))
    _validate(config, problems)
    problems.raise_if_any()
    return config


def _validate(config: Config, problems: _Problems) -> None:
    for setting in SETTINGS:
        if not setting.choices:
            continue
        if setting.section.endswith("[]"):
            where = setting.section.rstrip("[]")
            given = [
                (f"[[{where}]] #{i + 1}: ", t.get(setting.name)) for i, t in enumerate(config.tables[where])
            ]
        else:
            given = [("", config.get(setting.key))]
        for prefix, value in given:
            items = value if isinstance(value, tuple) else (value,)
            for item in items:
                if item is not None and item not in setting.choices:
                    problems.add(
                        f"{prefix}{setting.key} must be one of {', '.join(setting.choices)}", str(item)
                    )
    for key in ("store.retention_days", "store.dead_retention_days"):
        if config.get(key) < 0:
            problems.add(f"{key} must be >= 0 (0 keeps messages forever)", str(config.get(key)))
    if not 0 < config.get("service.port") < 65536:
        problems.add("service.port must be 1-65535", str(config.get("service.port")))
    for key in (
        "service.max_connections",
        "service.header_timeout_seconds",
        "service.body_timeout_seconds",
        "service.keep_alive_seconds",
        "service.request_timeout_seconds",
        "store.max_pending",
    ):
        if not config.get(key) > 0:
            problems.add(f"{key} must be greater than 0", str(config.get(key)))
    metrics_port = config.get("service.metrics_port")
    if metrics_port is not None and not (
        0 < metrics_port < 65536 and metrics_port != config.get("service.port")
    ):
        problems.add("service.metrics_port must be 1-65535 and differ from service.port", str(metrics_port))
    if not 0 < config.get("console.port") < 65536:
        problems.add("console.port must be 1-65535", str(config.get("console.port")))
    if config.get("console.enabled") and config.get("console.port") == config.get("service.port"):
        problems.add(
            "console.port must differ from service.port: the SNS port never serves the console",
            str(config.get("console.port")),
        )
    if not 0 < config.get("console.session_hours") <= 24 * 30:
        problems.add(
            "console.session_hours must be more than 0 and at most 720",
            str(config.get("console.session_hours")),
        )
    paths = [e.path for e in config.endpoints]
    for i, endpoint in enumerate(config.endpoints):
        if not endpoint.path:
            continue  # reported as a missing required key
        if not endpoint.path.startswith("/") or endpoint.path in ("/healthz", "/readyz", "/metrics"):
            problems.add("endpoint path must start with / and not be a reserved path", endpoint.path)
        if paths.index(endpoint.path) < i:
            problems.add(f"endpoint path {endpoint.path} is declared twice", endpoint.path)
        if not endpoint.topics and config.tables["endpoints"][i]["topics"] is not None:
            problems.add(f"endpoint {endpoint.path} needs at least one topic", endpoint.path)
        if endpoint.allow_raw_delivery and not endpoint.basic_auth_username:
            problems.add(f"endpoint {endpoint.path} allows raw delivery without basic auth", endpoint.path)
    _validate_queues(config, problems)
    _validate_alerts(config, problems)
    cert_dir = config.path("verification.cert_dir")
    if cert_dir is not None and not cert_dir.is_dir():
        problems.add(f"verification.cert_dir {cert_dir} is not a readable directory", str(cert_dir))
    elif cert_dir is not None and not os.access(cert_dir, os.R_OK | os.X_OK):
        problems.add(f"verification.cert_dir {cert_dir} is not readable", str(cert_dir))
    url = config.get("store.url")
    if isinstance(url, str) and not (
        url.startswith("sqlite:///") or url.startswith(("postgresql://", "postgres://"))
    ):
        problems.add("store.url must start with sqlite:/// or postgresql://", url.partition(":")[0])


def _validate_queues(config: Config, problems: _Problems) -> None:
    names = [q.name for q in config.queues]
    for queue in config.queues:
        where = f"queue {queue.url}"
        if not queue.url.startswith(("https://", "http://")) or not queue.name:
            problems.add(f"{where}: url must be an SQS queue URL (https://...)", queue.url)
            continue
        if names.count(queue.name) > 1:
            problems.add(f"{where}: two queues are named {queue.name}", queue.url)
        if not queue.topics:
            problems.add(f"{where}: needs at least one topic", queue.url)
        if queue.producer is not None and queue.producer not in PRODUCERS:
            problems.add(f"{where}: producer must be one of {', '.join(PRODUCERS)}", queue.producer)
        if queue.raw and (len(queue.topics) != 1 or "*" in queue.topics[0]):
            # A raw SQS message does not say which topic sent it: the one topic is recorded.
            problems.add(f"{where}: raw = true needs exactly one topic ARN without wildcards", queue.url)
        for key, value, low, high in (
            ("wait_seconds", queue.wait_seconds, 0, 20),
            ("batch_size", queue.batch_size, 1, 10),
            ("visibility_timeout_seconds", queue.visibility_timeout_seconds, 0, 43200),
        ):
            if not low <= value <= high:
                problems.add(f"{where}: {key} must be {low}-{high}", str(value))


_DURATION_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds in a span like ``"26h"``, ``"90m"``, ``"2d"`` or ``"45s"``; ValueError otherwise."""
    value = text.strip().lower()
    unit = _DURATION_UNITS.get(value[-1:])
    number = value[:-1]
    if unit is None or not number.isdigit() or len(number) > 9 or int(number) == 0:
        raise ValueError(f"not a duration: {text!r} (use a whole number and s, m, h or d, e.g. 26h)")
    return int(number) * unit


def _validate_alerts(config: Config, problems: _Problems) -> None:
    webhooks = {t["name"] for t in config.tables["webhooks"]}
    for destination in config.get("alerts.to"):
        kind, _, target = destination.partition(":")
        if kind == "email" and "@" in target and not any(c in target for c in "\r\n,<>"):
            continue
        if kind in ("slack", "webhook") and target in webhooks:
            continue
        problems.add(
            "alerts.to entry must be email:<address>, slack:<name> or webhook:<name> naming a [[webhooks]] entry",
            destination,
        )
    for key in ("renotify_minutes", "evaluate_every_seconds", "signature_failures_threshold",
                "signature_failures_window_minutes", "pending_subscription_minutes",
                "worker_stalled_seconds", "store_errors_seconds"):  # fmt: skip
        if config.get(f"alerts.{key}") <= 0:
            problems.add(f"alerts.{key} must be > 0", str(config.get(f"alerts.{key}")))
    for endpoint in config.endpoints:
        if endpoint.expect_within is not None:
            try:
                parse_duration(endpoint.expect_within)
            except ValueError as exc:
                problems.add(f"endpoint {endpoint.path}: expect_within: {exc}", endpoint.expect_within)
        if endpoint.max_lag_seconds is not None and endpoint.max_lag_seconds <= 0:
            problems.add(
                f"endpoint {endpoint.path}: max_lag_seconds must be > 0", str(endpoint.max_lag_seconds)
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
            meaning = s.help
            if s.choices:
                meaning += f" {'Each one of' if s.type == 'list[str]' else 'One of'}: "
                meaning += ", ".join(f"`{c}`" for c in s.choices) + "."
            lines.append(
                f"| `{s.name}` | {s.type} | {default} | {f'`{s.env}`' if s.env else '—'} | {meaning} |"
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
