"""One small handler per kind of outbox item: what "delivering" it means.

`router.delivery` leases an item, reads what it needs into a `Delivery`, looks the handler up in
`HANDLERS`, and takes care of what is common to every kind (retries, marking delivered, health,
metrics). A handler sends and returns the platform id of what it posted, if any; raising
`DeliveryError` (or anything else) makes the item a retry, never a loss.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from router import followup, patron_copies, retention, scrubbed_copies
from router.errors import DeliveryError
from router.followup_email import followup_email
from router.journal import Desk
from router.model import Backend, Conversation, Message, OutboxItem, OutboxKind, Queue, StoredFile
from router.outbox_payloads import Email, Notice, Payload, RootUpdate, ToPatron
from router.ports import AsyncStaffChannel, Mailer, PatronChannel, StaffChannel
from router.transcript import transcript_email


@dataclass
class Delivery:
    """An item and everything its handler needs, read in the transaction that leased it."""

    desk: Desk
    item: OutboxItem
    payload: Payload
    queue: Queue
    conversation: Conversation  # for an item pinned to an earlier thread: the chat as it was there
    channels: Mapping[Backend, StaffChannel]
    mailer: Mailer | None = None
    message: Message | None = None
    files: list[StoredFile] = field(default_factory=list)  # the message's attachments that still exist
    history: list[Message] = field(default_factory=list)  # email lane only: the whole chat
    linked: tuple[Queue, str] | None = None  # the other thread a transfer notice points to
    queue_problem: bool = True  # the queue may have a recorded problem, which a success clears (router.health)

    @property
    def key(self) -> str:
        return self.item.idempotency_key

    def channel(self) -> StaffChannel:
        """The queue's platform; failing for good when it is not configured."""
        channel = self.channels.get(self.queue.backend)
        if channel is None:
            raise DeliveryError(f"no {self.queue.backend} connection is configured", permanent=True)
        return channel

    def thread_channel(self) -> StaffChannel:
        """The channel, for an item that goes into the chat's thread: only once its root is posted."""
        channel = self.channel()
        if self.conversation.staff_thread_id is None:
            raise DeliveryError("thread root not posted yet")
        return channel

    def mail(self) -> Mailer:
        """The mail server; failing for good when none is configured."""
        if self.mailer is None:
            raise DeliveryError("no mail server is configured (REFDESK_SMTP_HOST)", permanent=True)
        return self.mailer

    def address(self) -> str:
        assert isinstance(self.payload, Email)
        if self.payload.to is None:
            raise DeliveryError("the email address is gone (removed by retention)", permanent=True)
        return self.payload.to


Handler = Callable[[Delivery], str | None]


def open_thread(d: Delivery) -> str | None:
    return d.channel().open_thread(d.queue, d.conversation, d.key, d.item.maybe_sent)


def patron_message(d: Delivery) -> str | None:
    channel = d.thread_channel()
    if d.message is None:  # deleted with its chat's rows while the item waited: nothing left to post
        return None
    return channel.post_patron_message(d.queue, d.conversation, d.message, d.key, d.item.maybe_sent, d.files)


def update_root(d: Delivery) -> str | None:
    assert isinstance(d.payload, RootUpdate)
    d.thread_channel().update_root(d.queue, d.conversation, d.key, d.item.maybe_sent, note=d.payload.note)
    return None


def notice(d: Delivery) -> str | None:
    channel = d.thread_channel()
    text, mentions = _notice(d)
    if d.payload.plain:  # type: ignore[union-attr]  # _notice checked it is a Notice
        return channel.post_notice(d.queue, d.conversation, text, d.key, d.item.maybe_sent, plain=True)
    return channel.post_notice(d.queue, d.conversation, text, d.key, d.item.maybe_sent, mentions=mentions)


def _notice(d: Delivery) -> tuple[str, list[str]]:
    """The notice's text (with the link to the other thread, if any) and whom it mentions."""
    assert isinstance(d.payload, Notice)
    text = d.payload.text
    if d.linked is not None:
        queue, thread = d.linked
        link = d.channels[queue.backend].thread_link(queue, thread) if queue.backend in d.channels else ""
        text += f"\n{d.payload.link_label}: {link or queue.name}"
    return text, list(d.payload.mention)


def transcript(d: Delivery) -> str | None:
    mailer = d.mail()
    subject, body = transcript_email(d.queue, d.conversation, d.history)
    mailer.send(d.address(), subject, body, message_id=d.key)
    return None


def followup_reply(d: Delivery) -> str | None:
    mailer = d.mail()
    if d.message is not None and d.message.deleted_at is None:  # a reply deleted before it went out stays unsent
        link = followup.resume_link(d.desk, d.conversation)
        subject, body, html = followup_email(d.queue, d.conversation, d.message, d.history, link)
        mailer.send(d.address(), subject, body, message_id=d.key, html=html)
    return None


def remove_copies(d: Delivery) -> str | None:
    """Retention: the platform copies go first; the rows go after the item is marked (`AFTER_DELIVERED`)."""
    d.channel()  # fails for good when the platform is not configured
    retention.remove_platform_copies(d.desk, d.channels, d.item.conversation_id)
    return None


def scrub_copies(d: Delivery) -> str | None:
    """Retention: an anonymised chat's staff-side copies."""
    d.channel()  # as above
    scrubbed_copies.apply(d.desk, d.channels, d.item.conversation_id)
    patron_copies.take_back(d.desk, d.channels, d.item.conversation_id, then_forget=True)
    return None


def to_patron(d: Delivery) -> str | None:
    """A line to the patron's own chat app (router.patron_channel); an edit or deletion changes the line
    its message was sent as (a message whose line never went out has nothing to change)."""
    assert isinstance(d.payload, ToPatron)
    channel, address = patron_channel(d), d.conversation.patron_address
    if address is None:  # removed by retention (anonymised or deleted): nothing can reach the patron any more
        return None
    key = f"refdesk-{d.item.kind}-{d.item.id}"  # not the message's: its edits must not repeat its send
    if d.payload.action == "send":
        files = d.files if d.message is None or d.message.deleted_at is None else []
        for file in files:  # a librarian's attachments, then the line that names them and says who sent them
            sent = channel.send_file(address, file, f"{key}-{file.id}")
            patron_copies.remember_file(d.desk, d.item.conversation_id, sent, d.item.message_id)
        return channel.send(address, d.payload.text, key)
    if d.payload.action == "delete" and d.item.message_id is not None:  # a deleted reply's files go with it
        with d.desk.uow(read_only=True) as uow:
            files = patron_copies.files_of(uow, d.item.conversation_id, d.item.message_id)
        for number, ref in enumerate(files):
            channel.delete(address, ref, f"{key}-file{number}")
    ref = sent_as(d)
    if ref is None:
        return None
    if d.payload.action == "edit":
        channel.edit(address, ref, d.payload.text, key)
    else:
        channel.delete(address, ref, key)
    return None


def patron_channel(d: Delivery) -> PatronChannel:
    """The chat's patron channel: the `patron` face of the platform's connection (Matrix: direct messages)."""
    name = d.conversation.patron_channel or ""
    found = patron_copies.channel_for(d.channels, name)
    if found is None:
        raise DeliveryError(f"no {name or 'patron'} connection for patrons is configured", permanent=True)
    return found


def sent_as(d: Delivery) -> str | None:
    """The platform id of the line the item's message was first sent as (None: it was not)."""
    with d.desk.uow(read_only=True) as uow:
        for item in uow.outbox.for_conversation(d.item.conversation_id):
            same = item.kind is d.item.kind and item.message_id == d.item.message_id
            if same and item.staff_ref and item.payload.get("action", "send") == "send":
                return item.staff_ref
    return None


HANDLERS: dict[OutboxKind, Handler] = {
    OutboxKind.OPEN_THREAD: open_thread,
    OutboxKind.PATRON_MESSAGE: patron_message,
    OutboxKind.UPDATE_ROOT: update_root,
    OutboxKind.NOTICE: notice,
    OutboxKind.TRANSCRIPT_EMAIL: transcript,
    OutboxKind.FOLLOWUP_EMAIL: followup_reply,
    OutboxKind.REMOVE_COPIES: remove_copies,
    OutboxKind.SCRUB_COPIES: scrub_copies,
    OutboxKind.TO_PATRON: to_patron,
}

# The same four thread posts for a platform whose client is asyncio (its StaffChannel's `aio`, see
# router.ports.AsyncStaffChannel): awaited on the platform's loop, so a send holds no thread while it
# waits for the homeserver. Same checks and arguments as the handlers above; other kinds go through those.
AsyncHandler = Callable[[Delivery, AsyncStaffChannel], Awaitable[str | None]]


async def open_thread_async(d: Delivery, aio: AsyncStaffChannel) -> str | None:
    d.channel()
    return await aio.open_thread(d.queue, d.conversation, d.key, d.item.maybe_sent)


async def patron_message_async(d: Delivery, aio: AsyncStaffChannel) -> str | None:
    d.thread_channel()
    if d.message is None:  # as in `patron_message`
        return None
    return await aio.post_patron_message(d.queue, d.conversation, d.message, d.key, d.item.maybe_sent, d.files)


async def update_root_async(d: Delivery, aio: AsyncStaffChannel) -> str | None:
    assert isinstance(d.payload, RootUpdate)
    d.thread_channel()
    await aio.update_root(d.queue, d.conversation, d.key, d.item.maybe_sent, note=d.payload.note)
    return None


async def notice_async(d: Delivery, aio: AsyncStaffChannel) -> str | None:
    d.thread_channel()
    text, mentions = _notice(d)
    if d.payload.plain:  # type: ignore[union-attr]  # _notice checked it is a Notice
        return await aio.post_notice(d.queue, d.conversation, text, d.key, d.item.maybe_sent, plain=True)
    return await aio.post_notice(d.queue, d.conversation, text, d.key, d.item.maybe_sent, mentions=mentions)


ASYNC_HANDLERS: dict[OutboxKind, AsyncHandler] = {
    OutboxKind.OPEN_THREAD: open_thread_async,
    OutboxKind.PATRON_MESSAGE: patron_message_async,
    OutboxKind.UPDATE_ROOT: update_root_async,
    OutboxKind.NOTICE: notice_async,
}

AFTER_DELIVERED: dict[OutboxKind, Callable[[Delivery], None]] = {
    # the chat's rows, this item's among them, can go only once the item is marked delivered
    OutboxKind.REMOVE_COPIES: lambda d: retention.finish_deletion(d.desk, d.item.conversation_id),
}
