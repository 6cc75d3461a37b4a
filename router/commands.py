"""Chat commands staff type in Slack or Matrix: one parser and one set of answers for both.

A staff message that starts with `!` is a command, never relayed to the patron (write `!!`
to send a message that starts with `!`). Thread commands act on that thread's chat; room
commands act on every queue of the room or channel. Each answer is a short text the adapter
posts back (in the thread, or in the room); errors say what went wrong and how to write it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from router import (
    availability,
    blocking,
    canned,
    duty,
    errors,
    escalation,
    faq_entries,
    followup,
    links,
    staff,
    tagging,
    transfer,
)
from router.hours import schedule_from_dict
from router.journal import Desk, Inbound
from router.opening_text import opening_phrase


@dataclass(frozen=True)
class CommandContext:
    """Where a command was typed and by whom; `conversation_id` is set inside a chat's thread."""

    slugs: list[str]
    staff_id: str
    staff_name: str
    conversation_id: str | None = None
    inbound: Inbound | None = None
    prefix: str = "!"


Handler = Callable[[Desk, CommandContext, str], str | None]

THREAD_HELP = {
    "claim": "take this chat",
    "close": "end this chat",
    "transfer": "QUEUE: pass this chat to another queue (a new thread there, the patron is told)",
    "followup": "email your replies in this thread to the patron",
    "canned": "NAME: send a canned response as your reply (without NAME: list them)",
    "show": "URL [TEXT]: send the patron a link card to open that page (http and https only)",
    "read": "N: the READ level of this chat (1-6, effort of the answer)",
    "tag": "WORD [WORD…]: add topic tags (!untag WORD removes one)",
    "untag": "WORD: remove a tag",
    "faq": "draft an FAQ entry from this chat (!faq off to unmark); !faq search WORDS, then !faq send N",
    "block": "[HOURS]: end this chat, refuse its browser, and refuse new chats from its address for HOURS (24)",
}
ROOM_HELP = {
    "on": "go on duty for this room's queues",
    "off": "go off duty",
    "who": "who is on duty",
    "status": "how many chats wait and are active in this room's queues",
    "away": "[closed|holiday|nobody] TEXT: what patrons see when nobody can answer",
    "hours": "this room's hours today and the next opening",
    "queues": "the queues you can transfer to",
    "canned": "list canned responses",
    "help": "this list",
}


def is_command(body: str) -> bool:
    """A command starts with one `!` (`!!` is the escape for text that starts with `!`)."""
    text = body.lstrip()
    return text.startswith("!") and not text.startswith("!!") and len(text) > 1 and not text[1].isspace()


def unescape(body: str) -> str:
    """`!!Hola` is sent to the patron as `!Hola`."""
    text = body.lstrip()
    return text[1:] if text.startswith("!!") else body


def run(desk: Desk, context: CommandContext, text: str) -> str | None:
    """Carry out one command; returns what to tell the staff member (None: the result speaks for itself)."""
    verb, _, rest = text.strip().lstrip("!").strip().partition(" ")
    verb, rest = verb.lower(), rest.strip()
    in_thread = context.conversation_id is not None
    handler = (THREAD if in_thread else {}).get(verb) or ROOM.get(verb)
    if handler is None:
        if verb in THREAD:
            return f"{context.prefix}{verb} works inside a chat's thread. {help_text(context)}"
        return f"Unknown command {context.prefix}{verb}. {help_text(context)}"
    if context.inbound is not None and handler not in THREAD.values() and not _first_time(desk, context.inbound):
        return None  # a redelivered room command: it was carried out and answered already
    try:
        return handler(desk, context, rest)
    except errors.RefdeskError as exc:
        usage = THREAD_HELP.get(verb) if in_thread and verb in THREAD else ROOM_HELP.get(verb, "")
        return f"refdesk: {exc}. Usage: {context.prefix}{verb} {usage}".rstrip()


def _first_time(desk: Desk, inbound: Inbound) -> bool:
    """Room commands change no chat, so they keep their own dedupe record."""
    with desk.uow() as uow:
        fresh = uow.inbound.first_time(f"{inbound.source}:command", inbound.event_id, desk.clock.now())
        uow.commit()
    return fresh


def help_text(context: CommandContext) -> str:
    p = context.prefix
    lines = ["In a chat's thread:"] + [f"  {p}{verb} {text}" for verb, text in THREAD_HELP.items()]
    lines += ["Anywhere in the room:"] + [f"  {p}{verb} {text}" for verb, text in ROOM_HELP.items()]
    lines.append("Start a line with // for a note the patron never sees; !!text sends text starting with !.")
    return "\n".join(lines)


# -- thread commands ---------------------------------------------------------------


def _claim(desk: Desk, context: CommandContext, rest: str) -> str | None:
    result = staff.claim(desk, context.conversation_id or "", context.staff_id, context.staff_name, context.inbound)
    if result is None or result.claimed or result.owner == context.staff_name:
        return None
    if result.owner:
        return f"Already claimed by {result.owner}."
    return "This chat has ended."


def _close(desk: Desk, context: CommandContext, rest: str) -> str | None:
    staff.close_by_staff(desk, context.conversation_id or "", context.staff_name, context.inbound)
    return None


def _transfer(desk: Desk, context: CommandContext, rest: str) -> str | None:
    if not rest:
        raise errors.InvalidInput(f"name the queue to transfer to ({_queue_names(desk)})")
    transfer.transfer(
        desk,
        context.conversation_id or "",
        rest.split()[0],
        context.staff_name,
        context.inbound,
        escalation_stage=escalation.OFFERED,  # a librarian chose the desk: no automatic escalation there
    )
    return None


def _followup(desk: Desk, context: CommandContext, rest: str) -> str | None:
    try:
        followup.mark_for_follow_up(desk, context.conversation_id or "", context.staff_name, context.inbound)
    except errors.EmailUnavailable as exc:  # a refusal to explain, not a typing mistake: no usage line
        return f"Not marked for follow-up: {exc}."
    return None


def _canned_in_thread(desk: Desk, context: CommandContext, rest: str) -> str | None:
    if not rest:
        return canned.list_text(desk, context.prefix)
    name = rest.split()[0]
    message = canned.send(
        desk, context.conversation_id or "", context.staff_id, context.staff_name, name, context.inbound
    )
    if message is None:  # this command was already carried out (a redelivered event)
        return None
    return f"Sent to the patron ({name}): {message.body}"


def _show(desk: Desk, context: CommandContext, rest: str) -> str | None:
    message = links.show(
        desk, context.conversation_id or "", context.staff_id, context.staff_name, rest, context.inbound
    )
    if message is None or message.link is None:  # a redelivered event: sent already
        return None
    shown = f" ({message.link['text']})" if message.link["text"] else ""
    return f"Sent to the patron: a link card to {message.link['url']}{shown}. You will see here when they open it."


def _read(desk: Desk, context: CommandContext, rest: str) -> str:
    if not rest:
        raise errors.InvalidInput("give the READ level, a number from 1 to 6")
    return tagging.summary(tagging.set_read_level(desk, context.conversation_id or "", rest.split()[0]))


def _tag(desk: Desk, context: CommandContext, rest: str) -> str:
    return tagging.summary(tagging.add_tags(desk, context.conversation_id or "", rest))


def _untag(desk: Desk, context: CommandContext, rest: str) -> str:
    return tagging.summary(tagging.remove_tags(desk, context.conversation_id or "", rest))


def _faq(desk: Desk, context: CommandContext, rest: str) -> str | None:
    action, _, words = rest.partition(" ")
    action, conversation_id = action.lower(), context.conversation_id or ""
    if action == "search":
        return faq_entries.search_text(desk, conversation_id, context.staff_id, words, context.prefix)
    if action == "send":
        message = faq_entries.send(
            desk, conversation_id, context.staff_id, context.staff_name, words, context.inbound, context.prefix
        )
        return None if message is None else f"Sent to the patron (FAQ {words.strip()}): {message.body}"
    if rest.lower() not in ("", "on", "off"):
        raise errors.InvalidInput(
            f"write {context.prefix}faq to draft an FAQ entry, {context.prefix}faq off to unmark, "
            f"{context.prefix}faq search WORDS or {context.prefix}faq send N"
        )
    return faq_entries.mark_text(desk, conversation_id, rest.lower() != "off", context.prefix)


def _block(desk: Desk, context: CommandContext, rest: str) -> str | None:
    hours = blocking.parse_hours(rest)
    result = blocking.block(desk, context.conversation_id or "", context.staff_name, hours, context.inbound)
    return None if result is None else blocking.summary(result, hours)


# -- room commands ---------------------------------------------------------------


def _on(desk: Desk, context: CommandContext, rest: str) -> str:
    queues = duty.go_on(desk, context.slugs, context.staff_id, context.staff_name)
    return f"{context.staff_name} is on duty for {', '.join(queues)}."


def _off(desk: Desk, context: CommandContext, rest: str) -> str:
    return f"{context.staff_name} is off duty for {', '.join(duty.go_off(desk, context.slugs, context.staff_id))}."


def _who(desk: Desk, context: CommandContext, rest: str) -> str:
    names = sorted({person for slug in context.slugs for person in duty.who(desk, slug)})
    return f"On duty: {', '.join(names)}." if names else "Nobody is on duty: patrons see the away message."


def _status(desk: Desk, context: CommandContext, rest: str) -> str:
    with desk.uow(read_only=True) as uow:
        counts = uow.conversations.count_open(context.slugs)
    waiting, active = counts.get("waiting", 0), counts.get("active", 0)
    return f"Queues {', '.join(context.slugs)}: {waiting} waiting, {active} active."


def _away(desk: Desk, context: CommandContext, rest: str) -> str:
    return availability.set_away_for(desk, context.slugs, rest)


def _hours(desk: Desk, context: CommandContext, rest: str) -> str:
    lines = []
    for slug in context.slugs:
        status = availability.queue_status(desk, slug)
        state = "open" if status["open"] else "closed"
        today = status.get("hours_today") or "open around the clock"
        opening = f"; next opening {_opening(desk, slug, status['next_opening'])}" if status.get("next_opening") else ""
        lines.append(f"{status['name']}: {state} now; today {today}{opening}.")
    return "\n".join(lines) or "No refdesk queue is mapped here."


def _opening(desk: Desk, slug: str, iso: str) -> str:
    """The next opening as patrons read it ("Wednesday 2 December, 9:00 (Chicago time)"), not an ISO time."""
    with desk.uow(read_only=True) as uow:
        queue = uow.queues.get(slug)
    schedule = schedule_from_dict(queue.hours) if queue else None
    return opening_phrase(datetime.fromisoformat(iso), schedule.timezone if schedule else "UTC")


def _queues(desk: Desk, context: CommandContext, rest: str) -> str:
    return f"Queues: {_queue_names(desk)}."


def _canned_list(desk: Desk, context: CommandContext, rest: str) -> str:
    if rest:
        return f"{context.prefix}canned NAME sends a response inside a chat's thread. " + canned.list_text(
            desk, context.prefix
        )
    return canned.list_text(desk, context.prefix)


def _help(desk: Desk, context: CommandContext, rest: str) -> str:
    return help_text(context)


def _queue_names(desk: Desk) -> str:
    with desk.uow(read_only=True) as uow:
        return ", ".join(f"{queue.slug} ({queue.name})" for queue in uow.queues.list())


def _needs_queue(handler: Handler) -> Handler:
    def checked(desk: Desk, context: CommandContext, rest: str) -> str | None:
        if not context.slugs:
            raise errors.UnknownQueue("no refdesk queue is mapped to this room or channel")
        return handler(desk, context, rest)

    return checked


THREAD: dict[str, Handler] = {
    "claim": _claim,
    "close": _close,
    "transfer": _transfer,
    "followup": _followup,
    "canned": _canned_in_thread,
    "show": _show,
    "read": _read,
    "tag": _tag,
    "untag": _untag,
    "faq": _faq,
    "block": _block,
    "help": _help,
}
ROOM: dict[str, Handler] = {
    "on": _needs_queue(_on),
    "off": _needs_queue(_off),
    "who": _needs_queue(_who),
    "status": _needs_queue(_status),
    "away": _needs_queue(_away),
    "hours": _needs_queue(_hours),
    "queues": _queues,
    "canned": _canned_list,
    "help": _help,
}
