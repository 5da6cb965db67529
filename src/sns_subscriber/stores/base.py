"""The inbox contract every store implements, and the values that cross it.

A receiver calls :meth:`InboxStore.submit` (or :meth:`InboxStore.add`) and answers SNS with
200 only once that call says the row is committed. A worker then :meth:`~InboxStore.claim`\\ s
messages under a lease, and finishes each with :meth:`~InboxStore.complete`,
:meth:`~InboxStore.retry` or :meth:`~InboxStore.fail`. The lifecycle::

    received ──claim──► processing ──complete──► done ──replay──┐
        ▲                 │  │  └──fail──► dead ──replay────────┤
        │                 │  └──retry──► retrying (due at next_attempt_at) ──claim──► processing
        │                 └── lease expires (worker crashed) ──claim──► processing
        └──────────────────────────────────────────────────────────────┘

    processing ──set_aside──► test | stale   (a producer's test event; an out-of-date state
                                              change: acknowledged, no action run)

Every datetime crossing this contract is timezone-aware UTC.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import enum
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol, runtime_checkable

from ..exceptions import ConfigurationError

__all__ = [
    "SCHEMA_VERSION",
    "ActionRecord",
    "AlarmTransition",
    "AlertRecord",
    "Clock",
    "DigestItem",
    "GroupStats",
    "InboxRecord",
    "InboxStats",
    "InboxStatus",
    "InboxStore",
    "MessageFilter",
    "MessagePage",
    "MessageSummary",
    "NewMessage",
    "OverviewStats",
    "PageCursor",
    "PurgeCutoffs",
    "Rejection",
    "RejectionRecord",
    "SubscriptionEvent",
    "SubscriptionRecord",
    "SubscriptionState",
]

#: The schema version this code writes; stores refuse a database that is newer.
SCHEMA_VERSION = 6

#: Returns "now"; stores take one so tests can move time (lease expiry, retry due times).
Clock = Callable[[], datetime]


class InboxStatus(enum.StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    DONE = "done"
    RETRYING = "retrying"
    DEAD = "dead"
    #: A producer's handshake or test event (Budgets "SNS Topic Verified!", ``s3:TestEvent``):
    #: acknowledged and kept, no action run.
    TEST = "test"
    #: A state change older than one already processed (CloudWatch alarms): no action run.
    STALE = "stale"


class SubscriptionState(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewMessage:
    """What a receiver persists for one accepted message."""

    message_id: str
    #: Path of the endpoint that accepted it, e.g. ``"/budget-subscriber"``.
    endpoint: str
    topic_arn: str
    #: ``"Notification"``, ``"SubscriptionConfirmation"``, ...
    message_type: str
    subject: str | None
    #: The exact request body, so the worker can parse (and anyone can re-verify) it later.
    body: bytes
    raw_delivery: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxRecord:
    """One stored message and where it is in its lifecycle."""

    message_id: str
    endpoint: str
    topic_arn: str
    message_type: str
    subject: str | None
    body: bytes
    raw_delivery: bool
    status: InboxStatus
    #: How many times the message was claimed (the current claim included).
    attempts: int
    last_error: str | None
    received_at: datetime
    updated_at: datetime
    #: When a RETRYING message becomes claimable again.
    next_attempt_at: datetime | None
    #: Set only while PROCESSING: who holds the message, and until when.
    lease_owner: str | None
    lease_until: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionEvent:
    """One subscription event (confirmation requested, confirmed, unsubscribed, failed).

    Events are appended, never updated: the history is the audit trail.
    """

    topic_arn: str
    endpoint: str
    state: SubscriptionState
    #: MessageId of the SNS message that caused the event.
    message_id: str
    subscription_arn: str | None = None
    token: str | None = None
    subscribe_url: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionRecord(SubscriptionEvent):
    """A stored :class:`SubscriptionEvent`."""

    id: int
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestItem:
    """One alert waiting in a recipient's digest. ``payload`` is the action's own JSON text."""

    recipient: str
    message_id: str
    due_at: datetime
    payload: str
    id: int | None = None


#: Rejections kept: the newest ones; recording one more deletes the oldest beyond this.
MAX_REJECTIONS = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejection:
    """A message a queue poller or ``dlq drain`` refused (malformed, unverifiable, topic not
    allowed) and left in its queue for the redrive policy. Kept for people to look at."""

    #: Where it came from, e.g. ``"sqs:alerts-queue"``.
    source: str
    #: The SQS MessageId.
    message_id: str
    #: The rejection's code and reason.
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectionRecord(Rejection):
    """A stored :class:`Rejection`."""

    id: int
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PurgeCutoffs:
    """What :meth:`InboxStore.purge_batch` may delete.

    DONE rows last updated before ``done_before`` and DEAD rows last updated before
    ``dead_before`` go, except rows received at or after the tombstone instants: their
    MessageId is what turns a replay of the message into a duplicate, and a replay is
    accepted for as long as its Timestamp is inside the verification window (Notifications:
    ``notification_tombstones_since``; confirmations live longer:
    ``confirmation_tombstones_since``). :mod:`sns_subscriber.retention` computes them.
    """

    done_before: datetime
    dead_before: datetime
    notification_tombstones_since: datetime
    confirmation_tombstones_since: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageFilter:
    """Which messages a listing, a count or a bulk replay is about; every field narrows it.

    ``received_after`` is inclusive, ``received_before`` exclusive. ``subject_contains`` is a
    case-insensitive substring (ASCII case folding), matched literally (``%`` and ``_`` too).
    ``producer`` is the producer name the worker detected (unknown until it processed the
    message).
    """

    status: InboxStatus | None = None
    endpoint: str | None = None
    topic_arn: str | None = None
    producer: str | None = None
    received_after: datetime | None = None
    received_before: datetime | None = None
    subject_contains: str | None = None


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where a newest-first listing stopped: the last row's ``received_at`` and insertion order."""

    received_at: datetime
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSummary:
    """A listed message without its body."""

    message_id: str
    endpoint: str
    topic_arn: str
    message_type: str
    subject: str | None
    producer: str | None
    status: InboxStatus
    attempts: int
    last_error: str | None
    received_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MessagePage:
    """One page of a listing. ``next_cursor`` is None on the last page.

    A page may hold fewer than ``limit`` messages and still have a ``next_cursor``: a subject
    search examines a bounded number of rows per page, and says where to go on.
    """

    messages: builtins.list[MessageSummary]
    next_cursor: PageCursor | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionRecord:
    """One entry of the action ledger: ``action_key`` succeeded for a message at ``done_at``."""

    message_id: str
    action_key: str
    done_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupStats:
    """What one (endpoint, topic) pair looks like.

    ``open``: messages still received, processing, retrying or dead (all of them, up to the
    store's cap). ``recent``: statuses among the group's messages in the latest sample of the
    whole inbox (see :meth:`InboxStore.stats`); ``error_rate`` is dead / (done + dead) there.
    """

    endpoint: str
    topic_arn: str
    open: dict[InboxStatus, int]
    recent: dict[InboxStatus, int]
    last_received_at: datetime | None

    @property
    def error_rate(self) -> float | None:
        finished = self.recent.get(InboxStatus.DONE, 0) + self.recent.get(InboxStatus.DEAD, 0)
        return None if finished == 0 else self.recent.get(InboxStatus.DEAD, 0) / finished


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxStats:
    """What ``sns-subscriber inbox stats`` shows."""

    #: Messages per status; every status is a key.
    counts: dict[InboxStatus, int]
    #: ``received_at`` of the oldest message per status (None: no message in that status).
    oldest: dict[InboxStatus, datetime | None]
    #: Bytes the inbox takes on disk (SQLite: the file and its WAL; PostgreSQL: the schema's
    #: tables with their indexes and TOAST).
    database_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmTransition:
    """What :meth:`InboxStore.record_alarm_state` found."""

    #: An equal or newer state change of this alarm was processed before: this one is stale.
    stale: bool
    #: The state last recorded for the alarm before this call (None: first time seen).
    previous_state: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRecord:
    """One operational alert, identified by (kind, key); see :mod:`sns_subscriber.alerts`."""

    kind: str
    key: str
    #: "open" or "resolved".
    state: str
    detail: str
    opened_at: datetime
    #: When the last notification (opening or reminder) was claimed; None: to be sent again.
    notified_at: datetime | None
    resolved_at: datetime | None
    #: Notifications sent while this opening lasted (the opening one included).
    notifications: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OverviewStats:
    """An overview that costs bounded work however big the inbox is.

    ``totals`` counts each status up to ``cap`` (``cap`` means "at least"); ``traffic`` holds
    messages received per bucket of the window ending at ``until``, oldest first, each
    counted up to ``cap``.
    """

    totals: dict[InboxStatus, int]
    groups: builtins.list[GroupStats]
    traffic: builtins.list[int]
    since: datetime
    until: datetime
    sample: int
    cap: int


@runtime_checkable
class InboxStore(Protocol):
    """The durable inbox. :class:`SQLiteStore` and :class:`PostgresStore` implement it.

    Every method may raise :class:`~sns_subscriber.exceptions.StoreUnavailableError` when the
    database cannot be reached or written (the caller answers 503, SNS retries).
    """

    def migrate(self) -> None:
        """Create or upgrade the schema; idempotent and safe when processes start together."""

    def submit(self, item: NewMessage) -> Future[bool]:
        """Queue an insert; the future resolves once its transaction has committed durably.

        True: inserted. False: a message with this MessageId was already stored (or queued
        earlier in the same batch). Fails with ``StoreUnavailableError`` on an outage.
        """
        ...

    def submit_async(self, item: NewMessage) -> asyncio.Future[bool]:
        """:meth:`submit` for code on an event loop (call it from the loop's thread)."""
        ...

    def add(self, item: NewMessage) -> bool:
        """``submit(item).result()``."""
        ...

    def claim(
        self, worker_id: str, *, limit: int = 10, lease_seconds: float = 60.0
    ) -> builtins.list[InboxRecord]:
        """Atomically lease up to ``limit`` claimable messages, oldest first.

        Claimable: RECEIVED; RETRYING whose ``next_attempt_at`` is due; PROCESSING whose lease
        expired (its worker died). Claiming sets PROCESSING, the lease and ``attempts += 1``.
        Two concurrent claimers, in any processes, never get the same message.
        """
        ...

    def complete(
        self, message_id: str, worker_id: str, *, actions: Sequence[str] = (), producer: str | None = None
    ) -> bool:
        """PROCESSING -> DONE, if ``worker_id`` still holds the message; else False.

        ``actions`` are recorded as succeeded (as by :meth:`record_action`) in the same
        transaction, whether or not the lease was still held: one commit instead of two.
        ``producer`` (here and in :meth:`retry` and :meth:`fail`) records the producer the
        worker detected, for listings filtered by producer.
        """
        ...

    def set_aside(self, message_id: str, worker_id: str, *, status: InboxStatus, reason: str) -> bool:
        """PROCESSING -> TEST or STALE (acknowledged, no action run), if ``worker_id`` still
        holds the message; ``reason`` is kept in ``last_error`` for whoever looks."""
        ...

    def record_alarm_state(
        self, alarm_key: str, *, state: str, changed_at: datetime, message_id: str
    ) -> AlarmTransition:
        """Remember the newest state change processed for an alarm, atomically.

        When a change at least as new as ``changed_at`` is already recorded the call records
        nothing and answers ``stale=True``: state producers may deliver out of order.
        """
        ...

    def retry(
        self,
        message_id: str,
        worker_id: str,
        *,
        error: str,
        delay_seconds: float,
        producer: str | None = None,
    ) -> bool:
        """PROCESSING -> RETRYING due ``delay_seconds`` from now, if ``worker_id`` holds it."""
        ...

    def fail(self, message_id: str, worker_id: str, *, error: str, producer: str | None = None) -> bool:
        """PROCESSING -> DEAD, if ``worker_id`` still holds the message."""
        ...

    def defer(self, message_id: str, worker_id: str, *, reason: str, delay_seconds: float) -> bool:
        """PROCESSING -> RETRYING due ``delay_seconds`` from now, giving back the attempt the
        claim counted: a destination said "later" (HTTP 429), which is not a failure."""
        ...

    # -- digests: alerts collected per recipient and sent together --------------------------

    def add_digest_item(self, item: DigestItem) -> bool:
        """Queue ``item``; False if this recipient already has this message (a retry)."""
        ...

    def claim_digest(
        self,
        worker_id: str,
        *,
        due_by: datetime | None = None,
        lease_seconds: float = 300.0,
        limit: int = 500,
    ) -> builtins.list[DigestItem]:
        """Claim the unsent items of ONE recipient that are due by ``due_by`` (default now),
        oldest first; ``[]`` when none. Claims are exclusive across processes until
        :meth:`finish_digest` or the lease runs out (a crashed sender's digest goes out later)."""
        ...

    def finish_digest(self, worker_id: str, ids: Sequence[int], *, sent: bool) -> int:
        """Mark claimed items sent (never claimed again), or release them for a later try."""
        ...

    def get(self, message_id: str) -> InboxRecord | None: ...

    def list_messages(
        self, *, status: InboxStatus | None = None, limit: int = 100
    ) -> builtins.list[InboxRecord]:
        """Newest first, optionally only one status."""
        ...

    def counts(self) -> dict[InboxStatus, int]:
        """Messages per status; every status is a key."""
        ...

    def replay(self, message_id: str) -> bool:
        """DONE or DEAD -> RECEIVED with a fresh attempt count; False for any other status."""
        ...

    def replay_status(self, status: InboxStatus) -> int:
        """Replay every message in ``status`` (DONE or DEAD); return how many."""
        ...

    def purge(self, *, older_than: datetime) -> int:
        """Delete DONE and DEAD messages last updated before ``older_than``, with their actions.

        All at once, and with no regard for the replay window: a MessageId purged while SNS
        would still accept its message lets a replay through. Operators and the worker use
        :func:`sns_subscriber.retention.purge` (batches, tombstones kept) instead.
        """
        ...

    def purge_batch(self, cutoffs: PurgeCutoffs, *, limit: int = 500) -> int:
        """Delete at most ``limit`` messages ``cutoffs`` allows (TEST and STALE ones count as
        DONE), with their actions, in one short transaction; return how many. Call it again
        until it returns less than ``limit``: small batches never hold the write lock long
        enough to stall receivers."""
        ...

    def stats(self) -> InboxStats:
        """Counts and oldest message per status, and the database size."""
        ...

    def last_received(self, endpoint: str, *, since: datetime) -> datetime | None:
        """When ``endpoint`` last received a message, if at or after ``since`` (else None).

        Walks only the messages received since ``since``: cheap for a recent ``since``."""
        ...

    def database_bytes(self) -> int:
        """The database size on disk, as in :attr:`InboxStats.database_bytes` (cheap: no scan)."""
        ...

    def oldest_unclaimed(self) -> datetime | None:
        """``received_at`` of the oldest RECEIVED message (None: nothing waits for a worker)."""
        ...

    # -- operational alerts: each change is one conditional write, so of several processes
    # evaluating the same alert exactly one gets to send each notification.

    def open_alert(self, kind: str, key: str, *, detail: str, now: datetime) -> bool:
        """Open the alert unless it is open already; True when this call opened it (the caller
        sends the opening notification)."""
        ...

    def claim_reminder(
        self, kind: str, key: str, *, now: datetime, last_before: datetime
    ) -> AlertRecord | None:
        """If the alert is open and was last notified before ``last_before`` (or its last
        notification failed), mark it notified now and return it: the caller sends a reminder."""
        ...

    def resolve_alert(self, kind: str, key: str, *, now: datetime) -> AlertRecord | None:
        """Resolve the alert if open; the record when this call resolved it (caller notifies)."""
        ...

    def alert_unsent(self, kind: str, key: str) -> None:
        """A notification claimed for this alert could not be sent: the next evaluation retries."""

    def list_alerts(self, *, open_only: bool = True) -> builtins.list[AlertRecord]:
        """Alerts, oldest opening first."""
        ...

    def add_signature_failures(self, endpoint: str, minute: datetime, count: int) -> None:
        """Add ``count`` signature rejections (403) of ``endpoint`` to the minute ``minute``."""

    def count_signature_failures(self, since: datetime) -> dict[str, int]:
        """Rejections per endpoint recorded for minutes at or after ``since``."""
        ...

    def prune_signature_failures(self, before: datetime) -> int:
        """Forget rejection counts of minutes before ``before``; return how many rows went."""
        ...

    def action_succeeded(self, message_id: str, action_key: str) -> bool: ...

    def record_action(self, message_id: str, action_key: str) -> None:
        """Remember that an action succeeded for a message; recording twice is harmless."""

    def forget_actions(self, message_id: str) -> int:
        """Forget a message's recorded actions (forced replay); return how many."""
        ...

    # -- reading for the console (bounded work on any inbox size) ---------------------------

    def find_messages(
        self, where: MessageFilter, *, limit: int = 50, after: PageCursor | None = None
    ) -> MessagePage:
        """Messages matching ``where``, newest first, ``limit`` at most, continuing ``after``
        the cursor of the previous page (keyset pagination: no OFFSET, no count)."""
        ...

    def replay_matching(self, where: MessageFilter, *, force: bool = False) -> int:
        """Replay every DONE or DEAD message matching ``where`` (other statuses are left
        alone); ``force`` also forgets their recorded actions. One transaction; returns how many."""
        ...

    def list_actions(self, message_ids: Sequence[str]) -> builtins.list[ActionRecord]:
        """The action ledger of these messages, oldest entry first."""
        ...

    def overview(
        self,
        *,
        until: datetime,
        window: timedelta = timedelta(hours=24),
        buckets: int = 24,
        sample: int = 10_000,
        cap: int = 100_000,
    ) -> OverviewStats:
        """Counts per status and per (endpoint, topic), and traffic over ``window`` before
        ``until`` in ``buckets`` slices; every count stops at ``cap`` rows, group statuses are
        read from the latest ``sample`` messages: never a scan of the whole table."""
        ...

    def record_subscription(self, event: SubscriptionEvent) -> SubscriptionRecord: ...

    def list_subscriptions(self) -> builtins.list[SubscriptionRecord]:
        """Every subscription event, newest first."""
        ...

    def get_subscription(self, subscription_id: int) -> SubscriptionRecord | None: ...

    def latest_subscription_event(self, message_id: str) -> SubscriptionRecord | None:
        """The newest event caused by the SNS message ``message_id`` (replay detection)."""
        ...

    def confirmed_subscription(self, topic_arn: str, endpoint: str) -> SubscriptionRecord | None:
        """The CONFIRMED event that still stands for ``topic_arn`` on ``endpoint``: None when
        there is none, or when an UNSUBSCRIBED event came after it."""

    def record_rejection(self, rejection: Rejection) -> None:
        """Append a rejection; only the newest :data:`MAX_REJECTIONS` are kept (the table's
        size must not depend on what unauthenticated senders put in a queue)."""

    def list_rejections(self, *, limit: int = 100) -> builtins.list[RejectionRecord]:
        """The newest rejections first."""
        ...

    def ping(self) -> None:
        """Raise ``StoreUnavailableError`` unless the database answers (readiness probe)."""

    def close(self) -> None:
        """Commit what was submitted, then release connections; idempotent."""


# -- helpers shared by the store implementations ---------------------------------------

#: Statuses a claim may pick; also the condition of the "pending" partial index.
CLAIMABLE_STATUSES = (InboxStatus.RECEIVED, InboxStatus.RETRYING, InboxStatus.PROCESSING)
#: Statuses that are final until someone replays them.
FINISHED_STATUSES = (InboxStatus.DONE, InboxStatus.DEAD)
#: What a worker may set a message aside as, instead of running its actions.
SET_ASIDE_STATUSES = (InboxStatus.TEST, InboxStatus.STALE)

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Normalise an aware datetime to UTC; a naive one is a bug (its zone is a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: stores need timezone-aware datetimes")
    return value.astimezone(UTC)


def check_identifier(name: str, what: str) -> str:
    """Return ``name`` if it is a plain lower-case SQL identifier, else ConfigurationError."""
    if not _IDENTIFIER.fullmatch(name):
        raise ConfigurationError(
            f"{what} must match ^[a-z_][a-z0-9_]{{0,62}}$",
            value=name,
        )
    return name


def check_limit(limit: int) -> int:
    if limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit}")
    return limit


def clean_text(value: str | None) -> str | None:
    """Make free text storable everywhere: PostgreSQL ``text`` refuses NUL, and no driver
    encodes a lone surrogate (both are valid JSON escapes an attacker may send in Subject)."""
    if value is None:
        return None
    if value.isascii() and "\x00" not in value:
        return value
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def _is_storable_key(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_new_message(item: NewMessage) -> NewMessage:
    """Refuse keys that no store can hold, and clean the free-text subject.

    Checked before an insert joins a batch: one unstorable row must not fail the commit of
    the other requests it shares a transaction with.
    """
    for name in ("message_id", "endpoint", "topic_arn", "message_type"):
        value = getattr(item, name)
        if not isinstance(value, str) or not value or not _is_storable_key(value):
            raise ValueError(f"NewMessage.{name} must be a non-empty string without NUL or lone surrogates")
    if not isinstance(item.body, bytes):
        raise TypeError(f"NewMessage.body must be bytes, not {type(item.body).__name__}")
    subject = clean_text(item.subject)
    if subject is item.subject:
        return item
    return dataclasses.replace(item, subject=subject)


def record_from_row(row: Sequence[Any], to_datetime: Callable[[Any], datetime]) -> InboxRecord:
    """An :class:`InboxRecord` from a row of the record columns, in the stores' common order;
    ``to_datetime`` turns the driver's timestamp value into an aware UTC datetime."""
    next_attempt_at, lease_until = row[12], row[14]
    return InboxRecord(
        message_id=row[0],
        endpoint=row[1],
        topic_arn=row[2],
        message_type=row[3],
        subject=row[4],
        body=bytes(row[5]),
        raw_delivery=bool(row[6]),
        status=InboxStatus(row[7]),
        attempts=row[8],
        last_error=row[9],
        received_at=to_datetime(row[10]),
        updated_at=to_datetime(row[11]),
        next_attempt_at=None if next_attempt_at is None else to_datetime(next_attempt_at),
        lease_owner=row[13],
        lease_until=None if lease_until is None else to_datetime(lease_until),
    )


def rejection_from_row(row: Sequence[Any], to_datetime: Callable[[Any], datetime]) -> RejectionRecord:
    """A :class:`RejectionRecord` from a row of (id, source, message_id, reason, created_at)."""
    return RejectionRecord(
        id=row[0], source=row[1], message_id=row[2], reason=row[3], created_at=to_datetime(row[4])
    )


def alert_from_row(row: Sequence[Any], to_datetime: Callable[[Any], datetime]) -> AlertRecord:
    """An :class:`AlertRecord` from a row of the alert columns."""
    return AlertRecord(
        kind=row[0],
        key=row[1],
        state=row[2],
        detail=row[3],
        opened_at=to_datetime(row[4]),
        notified_at=None if row[5] is None else to_datetime(row[5]),
        resolved_at=None if row[6] is None else to_datetime(row[6]),
        notifications=row[7],
    )


def subscription_from_row(row: Sequence[Any], to_datetime: Callable[[Any], datetime]) -> SubscriptionRecord:
    """A :class:`SubscriptionRecord` from a row of the subscription columns."""
    return SubscriptionRecord(
        id=row[0],
        topic_arn=row[1],
        endpoint=row[2],
        state=SubscriptionState(row[3]),
        message_id=row[4],
        subscription_arn=row[5],
        token=row[6],
        subscribe_url=row[7],
        detail=row[8],
        created_at=to_datetime(row[9]),
    )


# -- console queries, the same SQL for both drivers ----------------------------------------
# ``mark`` is the driver's placeholder (``?`` or ``%s``), ``ts`` turns a datetime into the
# driver's timestamp value, ``like`` is the case-insensitive LIKE operator. Table names are
# the placeholder ``{inbox}``/``{actions}``: each store fills in its own.

SUMMARY_COLUMNS: Final = (
    "message_id, endpoint, topic_arn, message_type, subject, producer, status, attempts, last_error, "
    "received_at, updated_at, seq"
)
#: Rows a subject search examines per page at most; it then hands back a cursor to go on.
SEARCH_SCAN_ROWS: Final = 5_000
#: Groups an overview shows at most (the most recently active first).
MAX_GROUPS: Final = 200


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filter_clauses(
    where: MessageFilter, *, mark: str, ts: Callable[[datetime], Any], like: str, subject: bool = True
) -> tuple[builtins.list[str], builtins.list[Any]]:
    """SQL conditions (ANDed) and their parameters for ``where``."""
    clauses: builtins.list[str] = []
    params: builtins.list[Any] = []
    for column, value in (
        ("status", None if where.status is None else InboxStatus(where.status).value),
        ("endpoint", where.endpoint),
        ("topic_arn", where.topic_arn),
        ("producer", where.producer),
    ):
        if value is not None:
            clauses.append(f"{column} = {mark}")
            params.append(value)
    if where.received_after is not None:
        clauses.append(f"received_at >= {mark}")
        params.append(ts(where.received_after))
    if where.received_before is not None:
        clauses.append(f"received_at < {mark}")
        params.append(ts(where.received_before))
    if subject and where.subject_contains:
        clauses.append(f"subject {like} {mark} ESCAPE '\\'")
        params.append(f"%{escape_like(where.subject_contains)}%")
    return clauses, params


def keyset_clause(
    after: PageCursor | None, *, mark: str, ts: Callable[[datetime], Any]
) -> tuple[str, builtins.list[Any]]:
    """Rows strictly older than ``after`` in (received_at, seq) order; the first part is a
    plain range the (received_at, seq) indexes serve."""
    if after is None:
        return "", []
    value = ts(after.received_at)
    return f"received_at <= {mark} AND (received_at < {mark} OR seq < {mark})", [value, value, after.seq]


def where_sql(clauses: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def summary_from_row(row: Sequence[Any], to_datetime: Callable[[Any], datetime]) -> MessageSummary:
    """A :class:`MessageSummary` from a row of :data:`SUMMARY_COLUMNS`."""
    return MessageSummary(
        message_id=row[0],
        endpoint=row[1],
        topic_arn=row[2],
        message_type=row[3],
        subject=row[4],
        producer=row[5],
        status=InboxStatus(row[6]),
        attempts=row[7],
        last_error=row[8],
        received_at=to_datetime(row[9]),
        updated_at=to_datetime(row[10]),
    )


def search_page(
    window: Sequence[Sequence[Any]], limit: int, scan: int, to_datetime: Callable[[Any], datetime]
) -> tuple[builtins.list[str], PageCursor | None]:
    """From a search window of (message_id, received_at, seq, matched) rows, newest first:
    the ids of the first ``limit`` hits, and where the next page starts (None at the end)."""
    hits: builtins.list[str] = []
    last_hit: Sequence[Any] | None = None
    for row in window:
        if not row[3]:
            continue
        if len(hits) == limit and last_hit is not None:  # one more hit: the page ends before it
            return hits, PageCursor(to_datetime(last_hit[1]), last_hit[2])
        hits.append(row[0])
        last_hit = row
    if len(window) < scan:
        return hits, None
    last = window[-1]
    return hits, PageCursor(to_datetime(last[1]), last[2])


def check_page_limit(limit: int) -> int:
    if not 1 <= limit <= 1000:
        raise ValueError(f"limit must be 1-1000, not {limit}")
    return limit


def build_stats(
    *,
    totals: dict[InboxStatus, int],
    open_rows: Sequence[tuple[str, str, InboxStatus, int, datetime | None]],
    sample_rows: Sequence[tuple[str, str, InboxStatus, int, datetime | None]],
    traffic: builtins.list[int],
    since: datetime,
    until: datetime,
    sample: int,
    cap: int,
) -> OverviewStats:
    """Assemble :class:`OverviewStats` from the per-status rows both stores read the same way."""
    opened: dict[tuple[str, str], dict[InboxStatus, int]] = {}
    recent: dict[tuple[str, str], dict[InboxStatus, int]] = {}
    last: dict[tuple[str, str], datetime] = {}
    for target, rows in ((opened, open_rows), (recent, sample_rows)):
        for endpoint, topic_arn, status, count, newest in rows:
            key = (endpoint, topic_arn)
            target.setdefault(key, {})[status] = count
            if newest is not None and (key not in last or newest > last[key]):
                last[key] = newest
    keys = sorted(set(opened) | set(recent), key=lambda k: (last.get(k) or since, k), reverse=True)
    groups = [
        GroupStats(
            endpoint=key[0],
            topic_arn=key[1],
            open=opened.get(key, {}),
            recent=recent.get(key, {}),
            last_received_at=last.get(key),
        )
        for key in keys[:MAX_GROUPS]
    ]
    return OverviewStats(
        totals=totals, groups=groups, traffic=traffic, since=since, until=until, sample=sample, cap=cap
    )


#: Statuses a message may stay in and need someone's attention (counted per group in full).
OPEN_STATUSES: Final = (InboxStatus.RECEIVED, InboxStatus.PROCESSING, InboxStatus.RETRYING, InboxStatus.DEAD)
