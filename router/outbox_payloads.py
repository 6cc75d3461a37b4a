"""What each kind of outbox item carries, as typed values instead of loose dict keys.

Use cases build these and `router.journal.enqueue` stores them as JSON; delivery parses the
JSON back (`parse`) before any handler runs. The JSON keys are the ones refdesk has always
written (`text`, `mention`, `link_label`, `link_current`, `link_queue`, `link_thread`, `queue`,
`thread`, `note`, `to`), so rows written before these types existed still deliver, and so do
rows an older worker reads during a rolling upgrade. Retention reads and scrubs the same keys
(`router.retention`, `router.scrubbed_copies`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router.errors import DeliveryError
from router.model import OutboxItem, OutboxKind


@dataclass(frozen=True)
class ThreadRef:
    """A staff thread by queue and root id: one that a transfer left behind."""

    queue: str
    thread: str


def _pinned(data: dict[str, Any]) -> ThreadRef | None:
    return ThreadRef(str(data.get("queue") or ""), str(data["thread"])) if data.get("thread") else None


def _pin(pinned: ThreadRef | None) -> dict[str, Any]:
    return {"queue": pinned.queue, "thread": pinned.thread} if pinned else {}


@dataclass(frozen=True)
class Nothing:
    """The item itself says it all (its conversation, its message id)."""

    def to_json(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Nothing:
        return cls()


@dataclass(frozen=True)
class RootUpdate:
    """Redraw a thread root; `note` replaces its status, `pinned`: an earlier thread's root, not the current one."""

    note: str | None = None
    pinned: ThreadRef | None = None

    def to_json(self) -> dict[str, Any]:
        return {**_pin(self.pinned), **({"note": self.note} if self.note is not None else {})}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RootUpdate:
        note = data.get("note")
        return cls(str(note) if note is not None else None, _pinned(data))


@dataclass(frozen=True)
class Notice:
    """A refdesk line in the thread.

    `mention`: staff ids to notify. `link_current` / `link`: end with a link to the chat's current
    thread, or to an earlier one, labelled `link_label`. `pinned`: post in an earlier thread.
    `plain`: the answer to a staff command, shown as written (lines and all) rather than as a notice.
    """

    text: str
    mention: tuple[str, ...] = ()
    link_label: str = "Thread"
    link_current: bool = False
    link: ThreadRef | None = None
    pinned: ThreadRef | None = None
    plain: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {**_pin(self.pinned), "text": self.text}
        if self.plain:
            data["plain"] = True
        if self.mention:
            data["mention"] = list(self.mention)
        if self.link_current or self.link:
            data["link_label"] = self.link_label
        if self.link_current:
            data["link_current"] = True
        if self.link:
            data.update(link_queue=self.link.queue, link_thread=self.link.thread)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Notice:
        link = data.get("link_thread")
        return cls(
            text=str(data.get("text", "")),
            mention=tuple(str(m) for m in data.get("mention") or []),
            link_label=str(data.get("link_label", "Thread")),
            link_current=bool(data.get("link_current")),
            link=ThreadRef(str(data.get("link_queue")), str(link)) if link else None,
            pinned=_pinned(data),
            plain=bool(data.get("plain")),
        )


@dataclass(frozen=True)
class Email:
    """Where an email goes; None once retention has removed the address."""

    to: str | None

    def to_json(self) -> dict[str, Any]:
        return {"to": self.to} if self.to is not None else {}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Email:
        to = data.get("to")
        return cls(str(to) if to else None)


@dataclass(frozen=True)
class ToPatron:
    """What the patron's own chat app is to show (router.patron_channel).

    `action`: "send" a new line, "edit" or "delete" the line the item's message was sent as.
    `text`: the line as the patron reads it (a staff reply labelled with the librarian's shown name,
    or a short notice); retention scrubs it like a notice's text.
    """

    action: str = "send"
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "text": self.text}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ToPatron:
        action = str(data.get("action") or "send")
        if action not in ("send", "edit", "delete"):
            raise DeliveryError(f"unreadable to_patron payload (action {action!r})", permanent=True)
        return cls(action, str(data.get("text", "")))


Payload = Nothing | RootUpdate | Notice | Email | ToPatron

TYPES: dict[OutboxKind, type[Payload]] = {
    OutboxKind.OPEN_THREAD: Nothing,
    OutboxKind.PATRON_MESSAGE: Nothing,
    OutboxKind.UPDATE_ROOT: RootUpdate,
    OutboxKind.NOTICE: Notice,
    OutboxKind.TRANSCRIPT_EMAIL: Email,
    OutboxKind.FOLLOWUP_EMAIL: Email,
    OutboxKind.REMOVE_COPIES: Nothing,
    OutboxKind.SCRUB_COPIES: Nothing,
    OutboxKind.TO_PATRON: ToPatron,
}


def to_json(kind: OutboxKind, payload: Payload | None) -> dict[str, Any]:
    """The stored form; a payload of the wrong type for `kind` is a programming error, caught here."""
    payload = payload if payload is not None else TYPES[kind]()
    if not isinstance(payload, TYPES[kind]):
        raise TypeError(f"a {kind} item carries {TYPES[kind].__name__}, not {type(payload).__name__}")
    return payload.to_json()


def parse(kind: OutboxKind, data: Any) -> Payload:
    """The typed payload of a stored item; a row nobody can read fails for good (retrying will not fix it)."""
    if not isinstance(data, dict):
        raise DeliveryError(f"unreadable {kind} payload (not an object)", permanent=True)
    return TYPES[kind].from_json(data)


def pinned_to(item: OutboxItem) -> ThreadRef | None:
    """The earlier thread an item goes to instead of the chat's current one (what a transfer tells the old thread)."""
    payload = parse(item.kind, item.payload)
    return payload.pinned if isinstance(payload, Notice | RootUpdate) else None
