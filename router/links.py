"""Link cards: a librarian takes the patron to a page (`!show URL [text]`), and hears when it was opened.

The card is a staff message with a `link` ({url, text}); its plain `body` ("text – url") is what every
other reader (transcripts, emails, the plain patron page) shows. Only http(s) URLs are sent, and a
queue may restrict them to its own list of sites (`link_sites`), so a mistyped or pasted `javascript:`
or intranet link never reaches a patron. The patron's "opened" tells staff once per card and carries
nothing about the patron: no address, no page they came from.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from router import errors, staff
from router.availability import require_queue
from router.conversations import authenticate
from router.journal import Desk, Inbound, commit, enqueue
from router.model import Message, OutboxKind, Queue, Status
from router.outbox_payloads import Notice
from router.single_line import one_line

MAX_URL = 2000
MAX_TEXT = 200
MAX_SITES = 50


def _host(url: str) -> str:
    """The host of an http(s) URL, lower case, or a clear error for anything else."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - a malformed port raises here, not later in the browser
    except ValueError as exc:
        raise errors.InvalidInput(f"{url!r} is not a valid web address") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise errors.InvalidInput(f"only http:// and https:// links can be sent to a patron, not {url!r}")
    if not host:
        raise errors.InvalidInput(f"{url!r} has no site name")
    if parts.username is not None or parts.password is not None:
        raise errors.InvalidInput("a link with a user name or password in it cannot be sent")
    return host


def site_allowed(host: str, sites: list[str]) -> bool:
    """A site on the list allows itself and its subdomains (`library.example` allows `www.library.example`)."""
    return not sites or any(host == site or host.endswith("." + site) for site in sites)


def check_link(url: str, queue: Queue) -> str:
    """The URL as it will be sent, or a clear error: its scheme, its length, the queue's list of sites."""
    if len(url) > MAX_URL:
        raise errors.InvalidInput(f"the link is longer than {MAX_URL} characters")
    host = _host(url)
    if not site_allowed(host, queue.link_sites):
        raise errors.InvalidInput(
            f"{host} is not on this queue's list of sites for links ({', '.join(queue.link_sites)})"
        )
    return url


def parse_sites(text: str) -> list[str]:
    """An admin's list (one per line or comma separated; a bare name or a URL) as host names."""
    sites: list[str] = []
    for raw in text.replace(",", "\n").splitlines():
        entry = raw.strip().lower().rstrip("/")
        if not entry:
            continue
        host = _host(entry if "://" in entry else f"https://{entry}")
        if host not in sites:
            sites.append(host)
    if len(sites) > MAX_SITES:
        raise errors.InvalidInput(f"at most {MAX_SITES} sites")
    return sites


def set_sites(desk: Desk, slug: str, text: str) -> Queue:
    """Replace the queue's list of sites for `!show` (empty: any http(s) site)."""
    sites = parse_sites(text)
    with desk.uow() as uow:
        queue = require_queue(uow, slug)
        queue.link_sites = sites
        uow.queues.add(queue)
        uow.commit()
    return queue


def show(
    desk: Desk, conversation_id: str, staff_id: str, staff_name: str, rest: str, inbound: Inbound | None = None
) -> Message | None:
    """`!show URL [text]`: a link card for the patron, as this librarian's reply (None: a redelivered event)."""
    url, _, text = rest.strip().partition(" ")
    if not url:
        raise errors.InvalidInput("give the address of the page to show")
    url = url.strip("<>")  # Matrix clients and Slack may wrap a link in angle brackets
    text = one_line(text)[:MAX_TEXT]
    with desk.uow(read_only=True) as uow:
        conversation = uow.conversations.get(conversation_id)
        queue = uow.queues.get(conversation.queue_slug) if conversation else None
    if conversation is None or queue is None:
        raise errors.ConversationNotFound("no such conversation")
    if conversation.status is Status.CLOSED:
        raise errors.ConversationClosed("this chat has ended: nothing was sent")
    url = check_link(url, queue)
    body = f"{text} – {url}" if text else url
    return staff.staff_says(desk, conversation_id, staff_id, staff_name, body, inbound, link={"url": url, "text": text})


OPENED_NOTICE = "The patron opened the link you sent: {url}"


def opened(desk: Desk, conversation_id: str, token: str, message_id: str) -> bool:
    """The patron opened a link card: staff hear it once per card. Returns whether this was the first time."""
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = authenticate(uow, conversation_id, token, for_update=True, desk=desk)
        message = uow.messages.get(message_id)
        if message is None or message.conversation_id != conversation.id or not message.link or message.deleted_at:
            raise errors.ConversationNotFound("no such link in this chat")
        if message.link.get("opened_at"):
            uow.commit()
            return False
        message.link = {**message.link, "opened_at": now.isoformat()}
        uow.messages.save(message)
        enqueue(
            uow, conversation, OutboxKind.NOTICE, now, payload=Notice(OPENED_NOTICE.format(url=message.link["url"]))
        )
        commit(desk, uow, conversation)
    return True
