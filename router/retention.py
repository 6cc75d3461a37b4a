"""Retention: anonymise old chats, delete older ones, and remove their copies from Slack and Matrix.

The policy lives in `kv` under `settings:retention`. Deleting a chat whose thread reached a staff
platform takes two steps, so a crash never leaves copies nobody can find again:

1. one transaction invalidates the patron's token, drops the personal fields, settles pending
   outbox items, records a marker (`retention:deleting:<id>`) and enqueues a REMOVE_COPIES item;
2. when that item is delivered (the platform copies are gone), the rows are deleted with the marker.

Both steps are idempotent; `purge` finishes any marker left by a crash between them. A patron who
wrote from their own chat app also has the bot's side of the chat there: both steps take it back
(router.patron_copies); the patron's own messages stay theirs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Any

from router import errors, faq_entries, patron_copies
from router.journal import OUTBOX_TOPIC, Desk, enqueue
from router.model import Author, Backend, Conversation, OutboxKind, Status
from router.outbox_payloads import pinned_to
from router.ports import StaffChannel, UnitOfWork
from router.scrub import compile_card_pattern, scrub

log = logging.getLogger(__name__)

POLICY_KEY = "settings:retention"
MARKER = "retention:deleting:"
MAX_DAYS = 36_500


@dataclass(frozen=True)
class Policy:
    """None: keep for ever. `purge_platform_copies`: also delete/redact the Slack and Matrix threads."""

    anonymise_after_days: int | None = None
    delete_after_days: int | None = None
    purge_platform_copies: bool = True

    def describe(self) -> str:
        """One sentence for patrons (the widget's privacy note)."""
        parts = []
        if self.anonymise_after_days is not None:
            parts.append(f"personal details are removed from chats after {self.anonymise_after_days} days")
        if self.delete_after_days is not None:
            parts.append(f"chats are deleted after {self.delete_after_days} days")
        return ("; ".join(parts) + ".").capitalize() if parts else ""


@dataclass
class PurgeReport:
    anonymised: int = 0
    deleted: int = 0
    waiting_for_platform: int = 0  # deletions whose staff-side copies the worker is still removing
    failed: list[str] = field(default_factory=list)


def _days(label: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise errors.InvalidInput(f"{label} must be a whole number of days or empty")
    try:
        days = int(value)
    except ValueError:
        raise errors.InvalidInput(f"{label} must be a whole number of days or empty, not {value!r}") from None
    if not 1 <= days <= MAX_DAYS:
        raise errors.InvalidInput(f"{label} must be between 1 and {MAX_DAYS} days")
    return days


def validate(
    anonymise_after_days: Any = None, delete_after_days: Any = None, purge_platform_copies: Any = True
) -> Policy:
    """A checked Policy; every mistake is named."""
    anonymise = _days("anonymise_after_days", anonymise_after_days)
    delete = _days("delete_after_days", delete_after_days)
    if not isinstance(purge_platform_copies, bool):
        raise errors.InvalidInput("purge_platform_copies must be true or false")
    if anonymise is not None and delete is not None and delete < anonymise:
        raise errors.InvalidInput(
            f"delete_after_days ({delete}) is sooner than anonymise_after_days ({anonymise}): chats would be "
            "deleted before they are anonymised; leave anonymise empty or make it shorter"
        )
    return Policy(anonymise, delete, purge_platform_copies)


def get_policy(desk: Desk) -> Policy:
    with desk.uow(read_only=True) as uow:
        stored = uow.kv.get(POLICY_KEY)
    if not stored:
        return Policy()
    data = json.loads(stored)
    return Policy(
        data.get("anonymise_after_days"), data.get("delete_after_days"), data.get("purge_platform_copies", True)
    )


def set_policy(
    desk: Desk, anonymise_after_days: Any = None, delete_after_days: Any = None, purge_platform_copies: Any = True
) -> Policy:
    policy = validate(anonymise_after_days, delete_after_days, purge_platform_copies)
    with desk.uow() as uow:
        uow.kv.set(POLICY_KEY, json.dumps(asdict(policy)))
        uow.commit()
    return policy


# -- deleting ----------------------------------------------------------------------


def delete_conversation(desk: Desk, conversation_id: str) -> None:
    """Delete one chat now (an admin, or the patron with their token): the same path as the scheduled purge.

    The patron's token stops working at once; platform copies are removed by the worker when the
    policy says so, and the rows go when they are.
    """
    policy = get_policy(desk)
    with desk.uow() as uow:
        conversation = uow.conversations.get(conversation_id, for_update=True)
        if conversation is None:
            raise errors.ConversationNotFound("no such conversation")
        _begin_deletion(uow, conversation, policy, desk.clock.now())
        uow.announce(conversation_id)
        uow.announce(OUTBOX_TOPIC)
        uow.commit()


def _begin_deletion(uow: UnitOfWork, conversation: Conversation, policy: Policy, now: Any) -> bool:
    """Step 1; True when the rows are already gone (nothing to remove on the platform)."""
    if uow.kv.get(MARKER + conversation.id) is not None:
        return False  # already under way
    for lane in ("staff", "email", "patron"):  # nothing more is posted or mailed for a chat being deleted
        uow.outbox.cancel_pending(conversation.id, lane, now, "conversation deleted")
    patron_lines = patron_copies.has_copies(uow, conversation)  # what the bot sent into a patron's own chat
    if not (policy.purge_platform_copies and (conversation.staff_thread_id or patron_lines)):
        uow.conversations.delete(conversation.id)
        faq_entries.forget_chat(uow, conversation.id)
        patron_copies.forget(uow, conversation.id)
        return True
    conversation.token_hash = ""  # router.conversations.authenticate: no hash opens nothing
    conversation.name = conversation.email = conversation.page_url = None  # the patron's address: with the rows
    if conversation.status is not Status.CLOSED:
        conversation.status, conversation.closed_at = Status.CLOSED, now
    uow.conversations.save(conversation)
    uow.kv.set(MARKER + conversation.id, now.isoformat())
    enqueue(uow, conversation, OutboxKind.REMOVE_COPIES, now)
    return False


def platform_refs(uow: UnitOfWork, conversation: Conversation) -> list[str]:
    """The platform ids of the thread's copies: what the bot posted and the staff replies relayed; the root last."""
    refs: list[str] = []
    for item in uow.outbox.for_conversation(conversation.id):
        if item.lane == "staff" and item.staff_ref and item.kind is not OutboxKind.OPEN_THREAD:
            refs.append(item.staff_ref)
    for message in uow.messages.after(conversation.id, 0, limit=100_000):
        if message.staff_event_id:
            refs.append(message.staff_event_id)
    root = conversation.staff_thread_id
    unique = [ref for ref in dict.fromkeys(refs) if ref != root]
    return unique + ([root] if root else [])


def earlier_threads(uow: UnitOfWork, conversation: Conversation) -> list[tuple[str, str]]:
    """(queue slug, root) of the threads a transfer left behind: the notices pinned to them say where they are."""
    pinned = (pinned_to(item) for item in uow.outbox.for_conversation(conversation.id))
    found = {(ref.queue, ref.thread) for ref in pinned if ref and ref.queue}
    return sorted(found - {(conversation.queue_slug, conversation.staff_thread_id or "")})


def remove_platform_copies(desk: Desk, channels: Mapping[Backend, StaffChannel], conversation_id: str) -> None:
    """Step 2's platform half (the REMOVE_COPIES delivery): refs are read now, so late deliveries count too.

    A transferred chat has a thread in every queue it passed through; each is removed on its own platform.
    A patron on their own chat app: what the bot sent them is taken back too (router.patron_copies)."""
    patron_copies.take_back(desk, channels, conversation_id, then_forget=False)
    with desk.uow(read_only=True) as uow:
        conversation = uow.conversations.get(conversation_id)
        queue = uow.queues.get(conversation.queue_slug) if conversation else None
        refs = platform_refs(uow, conversation) if conversation else []
        earlier = (
            [(uow.queues.get(slug), root) for slug, root in earlier_threads(uow, conversation)] if conversation else []
        )
    if conversation is None or queue is None:
        return
    for old_queue, root in earlier:
        channel = channels.get(old_queue.backend) if old_queue else None
        if channel is None:
            log.warning(
                "retention: the earlier thread %s of %s cannot be reached; left in place", root, conversation_id
            )
            continue
        channel.remove_copies(old_queue, replace(conversation, queue_slug=old_queue.slug, staff_thread_id=root), [])
    if refs and queue.backend in channels:
        channels[queue.backend].remove_copies(queue, conversation, refs)


def finish_deletion(desk: Desk, conversation_id: str) -> None:
    """Step 2's database half: the rows and the marker go together."""
    with desk.uow() as uow:
        uow.conversations.delete(conversation_id)
        faq_entries.forget_chat(uow, conversation_id)
        patron_copies.forget(uow, conversation_id)
        uow.kv.delete(MARKER + conversation_id)
        uow.commit()
    log.info("retention: conversation %s deleted", conversation_id)


# -- the scheduled run ---------------------------------------------------------------


def purge(
    desk: Desk, channels: Mapping[Backend, StaffChannel] | None = None, card_pattern: str | None = None
) -> PurgeReport:
    """Apply the policy once: anonymise, delete, and finish deletions a crash interrupted.

    With `channels`, platform copies are removed here and now (the CLI, the worker's schedule);
    without, the worker's outbox delivery removes them. Safe to run twice, or in two processes.
    """
    policy, report, now = get_policy(desk), PurgeReport(), desk.clock.now()
    card = compile_card_pattern(card_pattern)
    if policy.anonymise_after_days is not None:
        with desk.uow(read_only=True) as uow:
            due = uow.conversations.closed_before(now - timedelta(days=policy.anonymise_after_days), limit=100_000)
        for conversation in due:
            if conversation.anonymised_at is None and conversation.token_hash:
                report.anonymised += anonymise(desk, conversation.id, card)
    if policy.delete_after_days is not None:
        with desk.uow(read_only=True) as uow:
            due = uow.conversations.closed_before(now - timedelta(days=policy.delete_after_days), limit=100_000)
        for conversation in due:
            with desk.uow() as uow:
                locked = uow.conversations.get(conversation.id, for_update=True)
                gone = locked is not None and _begin_deletion(uow, locked, policy, now)
                uow.commit()
            report.deleted += gone
    _resume(desk, channels or {}, report)
    log.info(
        "retention purge: %d anonymised, %d deleted, %d waiting for platform removal, %d failed",
        report.anonymised,
        report.deleted,
        report.waiting_for_platform,
        len(report.failed),
    )
    if report.waiting_for_platform:
        desk.notifier.publish(OUTBOX_TOPIC)
    return report


def _resume(desk: Desk, channels: Mapping[Backend, StaffChannel], report: PurgeReport) -> None:
    """Every marked deletion: finish it when its copies are gone (or removable here), else leave it to the worker."""
    with desk.uow(read_only=True) as uow:
        marked = [key[len(MARKER) :] for key in uow.kv.with_prefix(MARKER)]
    for conversation_id in marked:
        with desk.uow(read_only=True) as uow:
            conversation = uow.conversations.get(conversation_id)
            queue = uow.queues.get(conversation.queue_slug) if conversation else None
            pending = [
                item
                for item in uow.outbox.for_conversation(conversation_id)
                if item.kind is OutboxKind.REMOVE_COPIES and item.delivered_at is None
            ]
        channel = channels.get(queue.backend) if queue else None
        try:
            leased = any(i.lease_until is not None and i.lease_until > desk.clock.now() for i in pending)
            if pending and channel is not None and not leased:  # a worker thread holding it finishes it itself
                remove_platform_copies(desk, channels, conversation_id)
            elif pending or leased:
                report.waiting_for_platform += 1
                continue
            finish_deletion(desk, conversation_id)
            report.deleted += 1
        except Exception as exc:  # noqa: BLE001 - one chat's failure must not stop the rest; the next run retries
            log.warning("retention: could not finish deleting %s: %s", conversation_id, exc)
            report.failed.append(conversation_id)


# -- anonymising ---------------------------------------------------------------------


def _scrubbed_link(link: Any, names: list[str | None], card: Any) -> Any:
    """A `!show` card's address and words, scrubbed like the body (a librarian may have named the patron)."""
    if not isinstance(link, dict):
        return link
    return {**link, **{key: scrub(link[key], names, card) for key in ("url", "text") if isinstance(link.get(key), str)}}


def anonymise(desk: Desk, conversation_id: str, card_pattern: Any = None) -> bool:
    """Remove the patron's name, email and page; scrub personal data from every message and snapshot.

    The staff-side copies follow through the outbox (SCRUB_COPIES, `router.scrubbed_copies`) unless
    the policy keeps platform copies.
    """
    card = card_pattern if hasattr(card_pattern, "sub") else compile_card_pattern(card_pattern)
    policy = get_policy(desk)
    with desk.uow() as uow:
        conversation = uow.conversations.get(conversation_id, for_update=True)
        if conversation is None or conversation.anonymised_at is not None:
            return False
        names = [conversation.name]
        for message in uow.messages.after(conversation_id, 0, limit=100_000):
            cleaned = scrub(message.body, names, card)
            link = _scrubbed_link(message.link, names, card)
            # a patron's id on their chat app (router.patron_channel) is personal data: often a phone number
            sender = None if message.author is Author.PATRON else message.author_id
            if (
                cleaned != message.body
                or message.html is not None
                or link != message.link
                or sender != message.author_id
            ):
                message.body, message.link, message.author_id = cleaned, link, sender
                message.html = None  # formatting is not scrubbed piece by piece: the plain, scrubbed body remains
                uow.messages.save(message)
        for event in uow.events.after(conversation_id, 0, limit=100_000):
            body, link = event.data.get("body"), event.data.get("link")
            if isinstance(body, str) and (
                scrub(body, names, card) != body
                or event.data.get("html") is not None
                or _scrubbed_link(link, names, card) != link
            ):
                link = _scrubbed_link(link, names, card)
                event.data = {**event.data, "body": scrub(body, names, card), "html": None, "link": link}
                uow.events.save(event)
        for item in uow.outbox.for_conversation(conversation_id):
            text = item.payload.get("text")  # notices quote the patron (a transfer's "Ada: …" context)
            payload = {k: v for k, v in item.payload.items() if k != "to"}  # emails name the address
            if isinstance(text, str):
                payload["text"] = scrub(text, names, card)
            if payload != item.payload:
                item.payload = payload
                uow.outbox.save(item)
        # the patron's chat-app address goes like the email (a bridged sender's often holds a phone number),
        # once what the bot sent there is taken back (router.patron_copies, with SCRUB_COPIES' delivery)
        patron_lines = policy.purge_platform_copies and patron_copies.has_copies(uow, conversation)
        uow.outbox.cancel_pending(conversation_id, "patron", desk.clock.now(), "conversation anonymised")
        conversation.name = conversation.email = conversation.page_url = None
        if not patron_lines:
            conversation.patron_address = None
            patron_copies.forget(uow, conversation_id)
        conversation.rating_comment = scrub(conversation.rating_comment or "", names, card) or None
        conversation.anonymised_at = desk.clock.now()
        uow.conversations.save(conversation)
        if policy.purge_platform_copies and (conversation.staff_thread_id or patron_lines):
            enqueue(uow, conversation, OutboxKind.SCRUB_COPIES, conversation.anonymised_at)
            uow.announce(OUTBOX_TOPIC)
        uow.commit()
    return True
