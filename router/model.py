"""The desk's domain objects: queues, conversations, messages and their events.

Plain dataclasses and the standard library only, so the rules can be tested
without a database, a web server or a chat platform.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


class Backend(enum.StrEnum):
    """Where a queue's staff live."""

    MATRIX = "matrix"
    SLACK = "slack"


class Status(enum.StrEnum):
    """A conversation moves waiting -> active -> closed, never back."""

    WAITING = "waiting"
    ACTIVE = "active"
    CLOSED = "closed"


class Author(enum.StrEnum):
    """Who wrote a message; system messages are refdesk's own notices."""

    PATRON = "patron"
    STAFF = "staff"
    SYSTEM = "system"


class EventType(enum.StrEnum):
    """What a patron's stream carries; every event has its own sequence number."""

    MESSAGE = "message"
    MESSAGE_EDITED = "message_edited"
    MESSAGE_DELETED = "message_deleted"
    STATUS = "status"


class OutboxKind(enum.StrEnum):
    """What the staff side must be told, in the order it happened."""

    OPEN_THREAD = "open_thread"
    PATRON_MESSAGE = "patron_message"
    UPDATE_ROOT = "update_root"
    NOTICE = "notice"
    TRANSCRIPT_EMAIL = "transcript_email"
    FOLLOWUP_EMAIL = "followup_email"  # a staff reply emailed to a patron who left (router.followup)
    REMOVE_COPIES = "remove_copies"  # retention: delete/redact the staff-side copies, then the rows (router.retention)
    SCRUB_COPIES = "scrub_copies"  # retention: an anonymised chat's staff-side copies too (router.scrubbed_copies)
    TO_PATRON = "to_patron"  # what the patron's own chat app shows: a reply, an edit, a notice (router.patron_channel)

    @property
    def lane(self) -> str:
        """Email and the patron's own chat app go in lanes of their own: a mail server or a patron-side
        outage never holds back the staff thread, nor the staff side theirs."""
        if self in (OutboxKind.TRANSCRIPT_EMAIL, OutboxKind.FOLLOWUP_EMAIL):
            return "email"
        return "patron" if self is OutboxKind.TO_PATRON else "staff"


@dataclass
class Queue:
    """A department or branch desk, mapped to one Slack channel or Matrix room."""

    slug: str
    name: str
    backend: Backend
    room: str
    allowed_origins: list[str] = field(default_factory=list)  # sites that may embed the widget
    hours: dict[str, Any] | None = None  # router.hours storage form; None: open around the clock
    away: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> language -> text
    escalation: dict[str, int] = field(default_factory=dict)  # overrides of router.escalation.DEFAULTS
    backup_queue: str | None = None  # where unclaimed chats roll over to (a partner library's queue)
    staff_name: str = "full"  # what patrons see of a librarian: "full", "first", or "role:LABEL"
    link_sites: list[str] = field(default_factory=list)  # sites `!show` may send patrons to; empty: any http(s) site


@dataclass
class Conversation:
    """One patron's chat; `last_seq` numbers everything the patron's stream shows."""

    id: str
    queue_slug: str
    token_hash: str
    created_at: datetime
    name: str | None = None
    email: str | None = None
    page_url: str | None = None
    language: str | None = None
    offline: bool = False  # left while the desk was closed or unstaffed: answer by email
    status: Status = Status.WAITING
    claimed_by: str | None = None
    claimed_by_id: str | None = None
    claimed_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: Author | None = None
    staff_thread_id: str | None = None
    last_seq: int = 0
    rating: int | None = None
    rating_comment: str | None = None
    escalation_stage: int = 0  # 1: staff nudged; 2: rolled over to the backup queue; 3: patron offered email
    follow_up: bool = False  # staff replies are emailed to the patron (offline questions always are)
    transferred_from: str | None = None  # the queue this chat was last transferred or rolled over from
    first_staff_at: datetime | None = None  # the first staff reply the patron saw (time to first response)
    after_hours: bool = False  # started while the queue was closed (demand outside opening hours)
    read_level: int | None = None  # READ scale 1-6, set by staff at or after close
    tags: list[str] = field(default_factory=list)  # topics set by staff
    faq_candidate: bool = False  # staff marked the answer as worth reusing (FAQ export)
    anonymised_at: datetime | None = None  # retention: personal data removed at this time
    # The patron's latest sign of life (start, a message, their open stream's heartbeat): a waiting chat
    # whose patron is gone for the desk's abandon window is closed as abandoned (router.abandonment).
    last_seen_at: datetime | None = None
    abandoned: bool = False  # closed because the patron left before anyone answered; their return reopens it
    # A patron who writes from their own chat app (router.patron_channel) instead of the web widget: the
    # channel's name (e.g. "matrix") and where it reaches them (the direct-message room). Personal data:
    # retention's anonymisation removes the address as it does the email.
    patron_channel: str | None = None
    patron_address: str | None = None

    def next_seq(self) -> int:
        """Hand out the next stream position; callers hold the conversation's row lock."""
        self.last_seq += 1
        return self.last_seq


@dataclass
class Message:
    """A line in the conversation; `client_id` makes a patron's retry harmless."""

    id: str
    conversation_id: str
    seq: int
    author: Author
    body: str
    created_at: datetime
    author_name: str | None = None
    author_id: str | None = None
    client_id: str | None = None
    staff_event_id: str | None = None
    edited_at: datetime | None = None
    deleted_at: datetime | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)  # [{id, name, mimetype, size}]
    html: str | None = None  # staff formatting, already sanitised by the adapter (allowlist); None: plain text
    link: dict[str, Any] | None = None  # a `!show` link card: {url, text, opened_at}; None: an ordinary message


@dataclass
class AdminUser:
    """Someone who signs in to the web admin: `admin` changes settings, `viewer` reads statistics and transcripts."""

    username: str
    password_hash: str
    role: str
    created_at: datetime
    # Random, replaced at sign-out and password reset: a session cookie is valid only while it holds the current one.
    security_stamp: str = ""


@dataclass
class Attempt:
    """A patron who wanted a chat when nobody could answer (closed, holiday, nobody on duty): demand we missed."""

    id: int | None
    queue_slug: str
    at: datetime
    reason: str


@dataclass
class CannedResponse:
    """A saved answer staff post by name; `texts` maps a language to its wording."""

    name: str
    texts: dict[str, str]


@dataclass
class DutyRecord:
    """A staff member's duty for a queue; only `on` during the current opening and recently active counts."""

    queue_slug: str
    staff_id: str
    staff_name: str
    on: bool
    since: datetime
    last_active: datetime


@dataclass
class StoredFile:
    """A file shared in a conversation, kept by refdesk so the patron needs no staff-side login."""

    id: str
    conversation_id: str
    name: str
    mimetype: str
    data: bytes
    created_at: datetime

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class StreamEvent:
    """A snapshot of what the patron saw at `seq`, replayed on reconnect."""

    conversation_id: str
    seq: int
    type: EventType
    data: dict[str, Any]
    created_at: datetime


@dataclass
class OutboxItem:
    """A promise to tell the staff side something, kept until it is delivered."""

    id: int | None
    conversation_id: str
    kind: OutboxKind
    created_at: datetime
    next_attempt_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None
    attempts: int = 0
    leases: int = 0
    lease_until: datetime | None = None
    delivered_at: datetime | None = None
    last_error: str | None = None
    staff_ref: str | None = None
    lane: str = "staff"

    @property
    def maybe_sent(self) -> bool:
        """Taken before (failed or crashed mid-send): the platform may already have it."""
        return self.leases > 1

    @property
    def idempotency_key(self) -> str:
        """Stable per item, so a retried send is recognised by the platform."""
        return f"refdesk-{self.kind}-{self.message_id or self.id}"


@dataclass(frozen=True)
class ScrubbedCopy:
    """One of the bot's posts in a staff thread and what it shows once the chat is anonymised.

    `message`: a patron message (already scrubbed); `notice`: a refdesk notice (scrubbed); neither:
    the thread root, drawn again from the anonymised conversation with `note` as its status.
    """

    ref: str
    message: Message | None = None
    notice: str | None = None
    note: str | None = None


@dataclass
class FaqArticle:
    """A knowledge-base entry: a question and the answer staff wrote once, for patrons and staff to reuse.

    `answer` is HTML limited to the formatting staff replies may use (sanitised before it is stored), so
    the widget and the admin can show it as it is. A draft made from a chat names that chat
    (`source_conversation_id`) so staff can check it; publishing drops the link, since a published
    answer must lead nobody back to a patron. `translation_of` links a language variant to the entry it
    translates, so `!faq send` can pick the patron's language.
    """

    id: int | None
    question: str
    answer: str
    language: str = "en"
    queue_slug: str | None = None  # None: for the whole library
    topics: list[str] = field(default_factory=list)
    status: str = "draft"  # "draft" | "published"
    source_conversation_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    published_at: datetime | None = None
    translation_of: int | None = None


@dataclass(frozen=True)
class FaqUsage:
    """One counter of how patrons used the published FAQ on one day (router.faq_usage).

    Nothing about a patron: no conversation, no address, no session. `query` is set only for
    searches that found nothing (normalised and scrubbed); `article_id` only for an entry's counters.
    """

    day: date
    kind: str
    article_id: int | None
    language: str | None
    queue_slug: str | None
    query: str
    count: int
