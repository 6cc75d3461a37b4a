"""The ports: what the domain needs from the outside world, and nothing more.

Adapters implement these (SQL storage, Matrix, Slack, notifiers); unit tests
implement them with small fakes. Keeping them tiny keeps both honest.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Coroutine, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple, Protocol, TypeVar

from router.model import (
    AdminUser,
    Attempt,
    Backend,
    CannedResponse,
    Conversation,
    DutyRecord,
    FaqArticle,
    FaqUsage,
    Message,
    OutboxItem,
    Queue,
    ScrubbedCopy,
    Status,
    StoredFile,
    StreamEvent,
)

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class Queues(Protocol):
    def get(self, slug: str) -> Queue | None: ...
    def add(self, queue: Queue) -> None: ...
    def list(self) -> list[Queue]: ...
    def for_room(self, backend: Backend, room: str) -> list[Queue]:
        """The queues one staff room or channel serves (a room may serve several), by slug: one indexed read."""
        ...


class Conversations(Protocol):
    def add(self, conversation: Conversation) -> None: ...
    def get(self, conversation_id: str, *, for_update: bool = False) -> Conversation | None:
        """`for_update` takes the row lock that serialises sequence numbers."""
        ...

    def where(self, conversation_id: str) -> tuple[Status, str] | None:
        """(status, queue slug) alone: what a patron's stream needs at each read, without loading the chat."""
        ...

    def save(self, conversation: Conversation) -> None: ...
    def by_thread(self, queue_slug: str, thread_id: str, *, for_update: bool = False) -> Conversation | None:
        """The chat whose staff thread is `thread_id`; `for_update` locks it as `get` does."""
        ...

    def waiting_ahead(self, queue_slug: str, created_at: datetime, seen_since: datetime | None = None) -> int:
        """Chats in the queue still waiting that arrived before `created_at` (first come, first served).

        With `seen_since`, only those whose patron was seen since then (the others are leaving)."""
        ...

    def waiting_count(self, queue_slug: str, seen_since: datetime | None = None) -> int:
        """Live chats (not offline questions) waiting in the queue now (`seen_since`: as in `waiting_ahead`)."""
        ...

    def waiting_line(self, queue_slug: str, seen_since: datetime | None = None) -> list[tuple[str, datetime]]:
        """(id, arrival) of every chat `waiting_ahead` would count, oldest first: the whole line in one read."""
        ...

    def mark_seen(self, conversation_id: str, moment: datetime) -> None:
        """The patron of this waiting chat is still there (they connected): one cheap update."""
        ...

    def mark_seen_all(self, conversation_ids: list[str], moment: datetime) -> None:
        """`mark_seen` for many chats in one statement (a web process's open streams at each heartbeat)."""
        ...

    def gone_since(self, moment: datetime) -> list[Conversation]:
        """Live chats still waiting whose patron was last seen before `moment` (router.abandonment)."""
        ...

    def recent_waits(self, queue_slug: str, limit: int = 20) -> list[float]:
        """Seconds from arrival to claim of the queue's latest claimed chats."""
        ...

    def waiting_before(self, moment: datetime, below_stage: int) -> list[Conversation]:
        """Live (not offline) chats still waiting that arrived before `moment`, not yet escalated that far."""
        ...

    def active_in(self, queue_slugs: list[str]) -> list[Conversation]:
        """Chats in these queues that are not closed."""
        ...

    def count_open(self, queue_slugs: list[str]) -> dict[str, int]:
        """How many chats are waiting and active in these queues, by status."""
        ...

    def created_between(
        self, start: datetime, end: datetime, queue_slugs: list[str] | None = None
    ) -> list[Conversation]:
        """Chats created in [start, end), oldest first, in these queues (None: all) — statistics, transcripts."""
        ...

    def closed_before(self, moment: datetime, limit: int = 500) -> list[Conversation]:
        """Closed chats that ended before `moment`, oldest first (retention)."""
        ...

    def delete(self, conversation_id: str) -> None:
        """Remove the chat and everything kept with it: messages, events, files, outbox rows (retention)."""
        ...

    def faq_candidates(
        self, start: datetime | None = None, end: datetime | None = None, queue_slug: str | None = None
    ) -> list[Conversation]:
        """Chats staff marked as FAQ candidates, created in [start, end), oldest first (router.faq)."""
        ...

    def open_for_patron(self, channel: str, address: str, *, for_update: bool = False) -> Conversation | None:
        """The newest chat not closed yet of the patron a channel reaches at `address` (router.patron_channel)."""
        ...


class Messages(Protocol):
    def add(self, message: Message) -> None: ...
    def by_client_id(self, conversation_id: str, client_id: str) -> Message | None: ...
    def after(self, conversation_id: str, seq: int, limit: int = 500) -> list[Message]: ...
    def get(self, message_id: str) -> Message | None: ...
    def by_staff_event(self, staff_event_id: str, conversation_id: str | None = None) -> Message | None:
        """The relayed staff message a platform event id refers to (optionally within one chat)."""
        ...

    def save(self, message: Message) -> None: ...
    def containing(self, text: str, conversation_ids: list[str]) -> set[str]:
        """Which of these conversations have a message whose body contains `text` (case-insensitive)."""
        ...


class Files(Protocol):
    def add(self, file: StoredFile) -> None: ...
    def get(self, conversation_id: str, file_id: str) -> StoredFile | None: ...


class Duty(Protocol):
    def get(self, queue_slug: str, staff_id: str) -> DutyRecord | None: ...
    def save(self, record: DutyRecord) -> None: ...
    def on_duty(self, queue_slug: str) -> list[DutyRecord]: ...
    def touch(self, queue_slug: str, staff_id: str, moment: datetime, *, unless_since: datetime) -> None:
        """If this librarian is on duty in the queue and was last active before `unless_since`, they were
        last active at `moment` (else nothing: no write, no lock)."""
        ...


class Events(Protocol):
    def add(self, event: StreamEvent) -> None: ...
    def save(self, event: StreamEvent) -> None:
        """Rewrite a stored snapshot (retention scrubs personal data out of old ones)."""
        ...

    def after(self, conversation_id: str, seq: int, limit: int = 500) -> list[StreamEvent]: ...

    def stream(
        self, conversation_id: str, seq: int, also: str, limit: int = 500, *, chat: bool = False
    ) -> StreamRead | None:
        """What a patron's stream needs at each wake-up, in one statement: the chat's status and queue,
        the key-value record `also` (its typing notice) and the events after `seq`; with `chat`, the whole
        chat too (the stream's opening authenticates with it). None: no such chat."""
        ...


class StreamRead(NamedTuple):
    """One read of a patron's stream (Events.stream): thousands of open streams wake, each reads this."""

    status: Status
    queue_slug: str
    also: str | None  # the key-value record asked for (router.typing: who is typing), None if there is none
    events: list[StreamEvent]
    chat: Conversation | None = None  # when asked for


@dataclass
class Leased:
    """An outbox item just leased, with the rows its handler reads (None: deleted meanwhile)."""

    item: OutboxItem
    conversation: Conversation | None
    queue: Queue | None  # the conversation's current queue
    message: Message | None  # the item's message, for an item that carries one
    queue_problem: str | None = None  # the problem recorded for that queue (router.health), if any


class Outbox(Protocol):
    def add(self, item: OutboxItem) -> None: ...
    def lease_due(
        self, now: datetime, lease_until: datetime, skip_backends: frozenset[Backend] = frozenset()
    ) -> OutboxItem | None:
        """Take the oldest due item whose conversation has nothing older pending.

        Head-of-line per conversation keeps a chat's messages in order while
        different chats are delivered in parallel. Staff items of queues on
        `skip_backends` are left to another worker (one that holds the Matrix device).
        """
        ...

    def lease(
        self, now: datetime, lease_until: datetime, limit: int, skip_backends: frozenset[Backend] = frozenset()
    ) -> list[Leased]:
        """Take up to `limit` due items as `lease_due` would (at most one per chat and lane), oldest first,
        each with its conversation, queue and message: the delivery's reads come with its lease."""
        ...

    def mark_delivered(self, refs: dict[int, str | None], now: datetime) -> None:
        """Settle these items as delivered; a non-None ref becomes the item's `staff_ref`."""
        ...

    def save(self, item: OutboxItem) -> None: ...
    def pending_count(self, lane: str | None = None) -> int: ...
    def cancel_pending(self, conversation_id: str, lane: str, now: datetime, reason: str) -> int:
        """Settle a chat's undelivered items in a lane without sending them (a transfer supersedes them)."""
        ...

    def for_conversation(self, conversation_id: str) -> list[OutboxItem]:
        """Every item of a chat, oldest first (retention collects what the bot posted from `staff_ref`)."""
        ...

    def prune_settled(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` items settled before `before` that nothing reads any more; how many went.

        Kept whatever their age, until their chat is deleted: items that record a platform copy
        (`staff_ref`) or an earlier thread (a payload `thread`), which retention needs to find and
        remove the chat's copies, and transcript requests (one per chat, `router.patron_email`)."""
        ...


class InboundLog(Protocol):
    def first_time(self, source: str, event_id: str, seen_at: datetime) -> bool:
        """Record an inbound platform event; False if it was already handled."""
        ...

    def prune(self, before: datetime, limit: int) -> int:
        """Forget up to `limit` events first seen before `before`; how many went."""
        ...


class Canned(Protocol):
    """Saved answers staff post by name."""

    def get(self, name: str) -> CannedResponse | None: ...
    def save(self, response: CannedResponse) -> None: ...
    def delete(self, name: str) -> bool: ...
    def list(self) -> list[CannedResponse]: ...


class Admins(Protocol):
    """Web admin accounts."""

    def get(self, username: str) -> AdminUser | None: ...
    def save(self, user: AdminUser) -> None: ...
    def delete(self, username: str) -> bool: ...
    def list(self) -> list[AdminUser]: ...


class Attempts(Protocol):
    """Patrons who wanted a chat when nobody could answer."""

    def add(self, attempt: Attempt) -> None: ...
    def between(self, start: datetime, end: datetime, queue_slugs: list[str] | None = None) -> list[Attempt]: ...


class FaqUsageCounts(Protocol):
    """Daily counters of how patrons use the published FAQ (router.faq_usage); no patron data."""

    def add(
        self,
        day: date,
        kind: str,
        article_id: int | None,
        language: str | None,
        queue_slug: str | None,
        query: str = "",
    ) -> None:
        """Count one more of this counter (created at 1 the first time): one upsert, safe under concurrency."""
        ...

    def queries_on(self, day: date) -> int:
        """How many different no-result queries are kept for `day` (the flood guard's measure)."""
        ...

    def between(self, first: date, last: date, queue_slugs: list[str] | None = None) -> list[FaqUsage]:
        """Every counter of days first..last (inclusive), in these queues (None: all, whole-library ones too)."""
        ...


class KeyValue(Protocol):
    """Small durable state for adapters: sync tokens, bot sessions."""

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str) -> None: ...
    def delete(self, key: str) -> None: ...
    def with_prefix(self, prefix: str) -> dict[str, str]: ...
    def lock(self, key: str) -> None:
        """Hold `key` exclusively, across processes, until this unit of work ends (get-or-create races)."""
        ...


class FaqArticles(Protocol):
    """The knowledge base (router.faq_entries): drafts and published entries, with full-text search."""

    def add(self, article: FaqArticle) -> None:
        """Store a new entry and set its `id`."""
        ...

    def get(self, article_id: int) -> FaqArticle | None: ...
    def save(self, article: FaqArticle) -> None: ...
    def delete(self, article_id: int) -> bool: ...
    def list(
        self,
        status: str | None = None,
        language: str | None = None,
        queue_slug: str | None = None,
        source_conversation_id: str | None = None,
        limit: int = 500,
        offset: int = 0,
    ) -> list[FaqArticle]:
        """Newest change first; each filter given must match exactly (`queue_slug` "": whole-library entries)."""
        ...

    def newest(
        self, *, language: str | None = None, queue_slug: str | None = None, topic: str | None = None, limit: int = 50
    ) -> list[FaqArticle]:
        """The `limit` most recently published entries (the public pages' list), newest first; only published
        ones, `queue_slug` keeps that queue's and the whole library's, `topic` those with it. At most `limit`
        entries are read: the pages must not cost more with 10,000 entries than with 50."""
        ...

    def published_topics(
        self, *, language: str | None = None, queue_slug: str | None = None
    ) -> tuple[int, dict[str, int]]:
        """How many published entries there are in that scope (as `newest`), and how many have each topic: counted
        by the database (grouped there), so no entry is loaded."""
        ...

    def search(
        self,
        groups: list[list[str]],
        *,
        any_group: bool = False,
        language: str | None = None,
        queue_slug: str | None = None,
        topic: str | None = None,
        limit: int = 10,
        published_only: bool = True,
    ) -> list[tuple[FaqArticle, float]]:
        """Entries matching the words, best first, with a rank (higher is better).

        Each group is a list of alternatives (any may match); every group must match, or any one with
        `any_group`. A word ending in "*" matches as a prefix. Words are lowercase letters and digits only
        (router.faq_entries.tokens), so no query syntax reaches the database. `queue_slug` keeps that
        queue's entries and the whole library's; `language` keeps that language's; `topic` those with it."""
        ...

    def remember_words(self, words: AbstractSet[str]) -> None:
        """Add words to the vocabulary that misspelt searches are corrected against (kept if already there)."""
        ...

    def words_near(self, words: Sequence[str]) -> list[str]:
        """Vocabulary words that could be one of `words` misspelt: same first letter, length within two."""
        ...


class UnitOfWork(abc.ABC):
    """One transaction: commit explicitly, roll back on any exit without commit."""

    queues: Queues
    conversations: Conversations
    messages: Messages
    files: Files
    duty: Duty
    events: Events
    outbox: Outbox
    inbound: InboundLog
    kv: KeyValue
    canned: Canned
    admins: Admins
    attempts: Attempts
    faq: FaqArticles
    faq_usage: FaqUsageCounts

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(self, *args: object) -> None:
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this transaction has committed."""
        self._after_commit.append(callback)

    def announce(self, topic: str) -> None:
        """Wake `topic`'s subscribers once this transaction has committed, and never if it rolls back.

        Not an `after_commit` callback, so that a database able to carry the wake-up inside the
        transaction does (PostgreSQL delivers a NOTIFY at COMMIT and drops it on rollback: no extra
        round trip). A topic named twice in one transaction is announced once.
        """
        self._announced[topic] = None

    def replayable(self) -> None:
        """The commit need not wait for the disk: this transaction's cause is delivered again unless
        a later write, made durable after this commit, records it as handled.

        A Matrix sync token is saved (durably) only once every effect of its batch has committed, and
        a database's log is written in order: if the database loses this commit in a crash, it loses
        the token that covers it too, and the bot syncs the event and handles it again (its dedupe
        record went with it). Databases without the choice ignore it."""
        self.waits_for_disk = False

    def _take_announced(self) -> list[str]:
        topics, self._announced = list(self._announced), {}
        return topics

    def _run_after_commit(self) -> None:
        callbacks, self._after_commit = self._after_commit, []
        topics = self._take_announced()
        for callback in callbacks:
            callback()
        if self._notifier is not None:
            for topic in topics:
                self._notifier.publish(topic)

    def _forget_after_commit(self) -> None:
        """What a rollback does to the promises: nothing registered runs, nothing announced is published."""
        self._after_commit.clear()
        self._announced.clear()

    def __init__(self, notifier: Notifier | None = None) -> None:
        """`notifier`: who publishes announced topics after the commit (None: nobody listens, e.g. a bench)."""
        self._after_commit: list[Callable[[], None]] = []
        self._announced: dict[str, None] = {}  # an ordered set: announced once each, in order
        self._notifier = notifier
        self.lines_moved: set[str] = set()  # queues whose waiting line changed in this transaction
        self.waits_for_disk = True  # see `replayable`


UnitOfWorkFactory = Callable[..., UnitOfWork]  # uow(read_only=False): read-only ones never take write locks


class Blocklist(Protocol):
    """Who opened a chat and who is blocked, by salted address hash only, kept outside the database.

    Entries expire by themselves (a TTL), so nothing about a patron's address outlives its use. The
    hash is computed by the web layer; the domain never sees an address.
    """

    def remember_opener(self, conversation_id: str, opener: str, ttl_seconds: int) -> None: ...
    def opener(self, conversation_id: str) -> str | None: ...
    def block(self, opener: str, ttl_seconds: int) -> None: ...
    def is_blocked(self, opener: str) -> bool: ...


class Notifier(Protocol):
    """Wakes waiters on a topic (a conversation id, or "outbox"), across processes if need be.

    Notifications carry no data: a woken waiter always reads the database, so a
    lost notification only delays, never loses, a message.
    """

    def publish(self, topic: str) -> None: ...
    def subscribe(self, topic: str, *more: str) -> Subscription:
        """Woken by a publish on any of the topics."""
        ...


class Subscription(Protocol):
    def wait(self, timeout: float) -> bool:
        """Block until a publish on the topic since the last wait, or timeout; True if woken."""
        ...

    def woken_by(self) -> AbstractSet[str]:
        """Topics published since the last call ("*": all of them, e.g. after a lost connection)."""
        ...

    def follow(self, topic: str) -> None:
        """Also be woken by `topic` from now on."""
        ...

    def close(self) -> None: ...


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str, *, message_id: str, html: str | None = None) -> None:
        """Send an email (plain text, plus `html` as an alternative part); `message_id` is stable per outbox item."""
        ...


class StaffChannel(Protocol):
    """One staff platform (Matrix, Slack). Every call is idempotent on `key`.

    `maybe_sent` says an earlier try may have reached the platform (it failed
    ambiguously or its worker died): a platform without idempotency keys must
    look for `key` before posting again.
    """

    def open_thread(self, queue: Queue, conversation: Conversation, key: str, maybe_sent: bool = False) -> str:
        """Post the thread root for a new conversation; return its platform id."""
        ...

    def post_patron_message(
        self,
        queue: Queue,
        conversation: Conversation,
        message: Message,
        key: str,
        maybe_sent: bool = False,
        files: list[StoredFile] | None = None,
    ) -> str:
        """`files`: the message's attachments with their content, to upload to the thread."""
        ...

    def update_root(
        self, queue: Queue, conversation: Conversation, key: str, maybe_sent: bool = False, note: str | None = None
    ) -> None:
        """Show the chat's current state on its root; `note` replaces the status (e.g. "transferred to …")."""
        ...

    def thread_link(self, queue: Queue, thread_id: str) -> str:
        """A link staff can click to open a thread (transfers link the old and new threads)."""
        ...

    def post_notice(
        self,
        queue: Queue,
        conversation: Conversation,
        text: str,
        key: str,
        maybe_sent: bool = False,
        mentions: list[str] | None = None,
        plain: bool = False,
    ) -> str:
        """A refdesk notice in the thread; `mentions`: staff ids to notify (a nudge), never patron text.

        `plain`: a command's answer, shown as written (its lines kept), not styled as a notice."""
        ...

    def remove_copies(self, queue: Queue, conversation: Conversation, refs: list[str]) -> None:
        """Delete (Slack) or redact (Matrix) the thread's copies: the root and the other platform ids in `refs`.

        Idempotent: a copy already gone counts as removed. Copies the bot may not remove
        (another person's Slack message) are skipped, not retried forever.
        """
        ...

    def anonymise_copies(self, queue: Queue, conversation: Conversation, copies: list[ScrubbedCopy]) -> None:
        """Leave no personal data in the thread rooted at `conversation.staff_thread_id`, keeping what can stay.

        `copies` are the bot's posts there with their scrubbed text. Idempotent like `remove_copies`.
        """
        ...


class AsyncStaffChannel(Protocol):
    """A StaffChannel's thread posts as coroutines, for a platform whose client runs on an asyncio loop.

    A channel offers it as its `aio` attribute (optional: Slack and email have none). The outbox
    then awaits these on that loop, as many chats at once as are due, instead of holding a thread
    per send; `submit` hands a coroutine to the loop from any thread. Same arguments and errors
    (`DeliveryError`) as the StaffChannel methods of the same names, and a stricter promise: a
    repeat of `key` must never post twice whatever `maybe_sent` says (Matrix: the key is the
    transaction id), because the outbox may start these sends before the lease is committed.
    """

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]: ...
    async def open_thread(
        self, queue: Queue, conversation: Conversation, key: str, maybe_sent: bool = False
    ) -> str: ...
    async def post_patron_message(
        self,
        queue: Queue,
        conversation: Conversation,
        message: Message,
        key: str,
        maybe_sent: bool = False,
        files: list[StoredFile] | None = None,
    ) -> str: ...
    async def update_root(
        self, queue: Queue, conversation: Conversation, key: str, maybe_sent: bool = False, note: str | None = None
    ) -> None: ...
    async def post_notice(
        self,
        queue: Queue,
        conversation: Conversation,
        text: str,
        key: str,
        maybe_sent: bool = False,
        mentions: list[str] | None = None,
        plain: bool = False,
    ) -> str: ...


class PatronChannel(Protocol):
    """A patron's own chat app (a Matrix direct message, and through bridges SMS, WhatsApp, Signal…).

    What the web widget shows the patron, delivered instead as lines in their chat: staff replies
    already labelled with the librarian's shown name, edits, deletions and short notices. Every
    call is idempotent on `key` (the platform turns a repeat into the first send). `address` is
    where the channel reaches the patron (for Matrix: the direct-message room); `ref` is the
    platform id `send` returned for the line to change.
    """

    def send(self, address: str, text: str, key: str) -> str:
        """Post a line; return its platform id."""
        ...

    def send_file(self, address: str, file: StoredFile, key: str) -> str:
        """Post a file (a librarian's attachment); return its platform id."""
        ...

    def edit(self, address: str, ref: str, text: str, key: str) -> str:
        """Replace the text of the line `ref`."""
        ...

    def delete(self, address: str, ref: str, key: str) -> None:
        """Remove the line `ref` (gone already counts as removed)."""
        ...


class DeliveryObserver(Protocol):
    """Told the outcome of every outbox delivery attempt, so operators can count them (adapters/metrics.py).

    Labels only: the backend ("matrix", "slack", "email"), the lane and, for a failure, its kind
    ("rate_limited", "permanent", "temporary"). Never a conversation, a patron or an error text.
    """

    def delivery_attempted(self, backend: str, lane: str, failure: str | None) -> None: ...
