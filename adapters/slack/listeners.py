"""slack-bolt listeners: translate Slack payloads into use-case calls, nothing more.

The same listeners serve the HTTP Events API (`/slack/events`) and Socket Mode.
Bolt acknowledges events itself and runs these in its thread pool after the
ack, so Slack's 3-second deadline never depends on our database.
"""

from __future__ import annotations

import logging
import threading
import time
from html import escape
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from adapters.slack import render, tag_modal
from adapters.slack.files import FileFetcher
from adapters.slack.inbound import Kind, staff_intent, to_command_text, to_plain_text
from adapters.slack.mrkdwn import mrkdwn_to_html
from adapters.staff_html import staff_html
from router import (
    availability,
    blocking,
    command_answers,
    commands,
    duty,
    escalation,
    faq_entries,
    followup,
    staff,
    staff_files,
    transfer,
)
from router.commands import is_command
from router.errors import RefdeskError
from router.journal import Desk, Inbound
from router.model import Backend, Conversation, Status
from router.outbox_payloads import ThreadRef

log = logging.getLogger(__name__)

HELP = (
    "*refdesk* — each patron chat is a thread in this channel.\n"
    "• *Claim* with the button on the chat, or just reply in its thread.\n"
    "• Reply in the thread to answer; start a line with `//` for a note the patron never sees.\n"
    "• *Close* with the button on the chat.\n"
    "• `/refdesk on` / `off` / `who`: go on or off duty for this channel's queues, or see who is on.\n"
    "• `/refdesk away [closed|holiday|nobody] TEXT` sets what patrons see when nobody can answer.\n"
    "• `/refdesk status` shows waiting and active chats in this channel; `/refdesk hours` today's hours.\n"
    "• `/refdesk faq WORDS` searches the FAQ; in a thread `!faq search WORDS` then `!faq send N` sends an answer,"
    " `!faq` drafts an FAQ entry from the chat.\n"
    "• In a chat's thread: `!transfer QUEUE`, `!followup` (email your replies), `!canned NAME`, `!claim`, `!close`;"
    " `/refdesk queues` and `/refdesk canned` list what exists. `!!text` sends text that starts with `!`."
)


class StaffNames:
    """Display names from users.info, cached for an hour (Slack rate-limits users.info)."""

    def __init__(self, client: WebClient, ttl: float = 3600.0):
        self.client, self.ttl = client, ttl
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def __call__(self, user_id: str) -> str:
        with self._lock:
            cached = self._cache.get(user_id)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        try:
            user = self.client.users_info(user=user_id)["user"]
            profile = user.get("profile") or {}
            name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user["name"]
        except Exception:  # noqa: BLE001 - a name is nice to have; never lose the reply over it
            log.warning("slack: users.info failed for %s", user_id, exc_info=True)
            return cached[1] if cached else "Librarian"
        with self._lock:
            self._cache[user_id] = (time.monotonic(), name)
        return name


def conversation_in_channel(desk: Desk, channel: str, thread_ts: str, patience: float = 0.0) -> Conversation | None:
    """The chat whose thread this is. `patience`: a reply can beat us to recording a root we just
    posted (Slack answers, staff reply at once, we commit the thread id a moment later)."""
    deadline = time.monotonic() + patience
    while True:
        with desk.uow() as uow:
            for queue in uow.queues.list():
                if queue.backend is Backend.SLACK and queue.room == channel:
                    conversation = uow.conversations.by_thread(queue.slug, thread_ts)
                    if conversation is not None:
                        return conversation
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.25)


def register(app: App, desk: Desk, names: StaffNames, fetch: FileFetcher) -> None:
    @app.event("message")
    def on_message(event: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
        bot_user = context.get("bot_user_id") or ""
        intent = staff_intent(event, bot_user)
        if intent is None:
            return
        ours = bool(bot_user) and intent.parent_user == bot_user
        conversation = conversation_in_channel(desk, intent.channel, intent.thread_ts, patience=5.0 if ours else 0.0)
        if conversation is None:
            return
        inbound = Inbound("slack", intent.dedupe_id)  # also the relayed message's reference, for replies
        message_ref = f"{intent.channel}:{intent.ts}"
        try:
            if intent.kind is Kind.EDIT:
                text = to_plain_text(intent.text)
                html = staff_html(mrkdwn_to_html(intent.text))
                staff.staff_edits(desk, message_ref, intent.user, text, inbound, conversation.id, html=html)
            elif intent.kind is Kind.DELETE:
                staff.staff_deletes(desk, message_ref, inbound, conversation.id)
            elif is_command(to_plain_text(intent.text)) and not intent.files:
                where = commands.CommandContext(
                    _channel_queues(desk, intent.channel), intent.user, names(intent.user), conversation.id, inbound
                )
                answer = commands.run(desk, where, to_command_text(intent.text))
                if answer:  # through the outbox: a 429 here must not lose it
                    thread = ThreadRef(where.slugs[0], intent.thread_ts) if where.slugs else None
                    command_answers.queue_answer(desk, conversation.id, answer, inbound, thread)
            else:
                files, skipped = fetch(intent.files) if intent.files else ([], [])
                body = reply_body(commands.unescape(intent.text), skipped)
                html = reply_html(commands.unescape(intent.text), skipped)
                staff.staff_says(
                    desk, conversation.id, intent.user, names(intent.user), body, inbound, files, html=html
                )
                unsent = [(name, "too large, or Slack did not hand it over") for name in skipped]
                staff_files.tell_staff_files_not_sent(desk, conversation.id, unsent, inbound)
        except RefdeskError as exc:
            log.warning("slack: ignored %s in %s: %s", intent.kind, intent.channel, exc)

    @app.action(render.CLAIM_ACTION)
    def on_claim(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user, conversation_id, where = _action_context(body)
        result = staff.claim(desk, conversation_id, user, names(user), Inbound("slack", _action_id(body)))
        if result is not None and not result.claimed:
            owner = result.owner or "someone else"
            text = (
                f"Already claimed by {owner}."
                if result.conversation.status is Status.ACTIVE
                else "This chat is closed."
            )
            client.chat_postEphemeral(channel=where["channel"], user=user, text=text, thread_ts=where.get("ts"))

    @app.action(render.CLOSE_ACTION)
    def on_close(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user, conversation_id, _ = _action_context(body)
        staff.close_by_staff(desk, conversation_id, names(user), Inbound("slack", _action_id(body)))

    @app.action(render.TRANSFER_ACTION)
    def on_transfer(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user, _, where = _action_context(body)
        conversation_id, _, target = str(body["actions"][0]["selected_option"]["value"]).partition(":")
        try:
            transfer.transfer(
                desk,
                conversation_id,
                target,
                names(user),
                Inbound("slack", _action_id(body)),
                escalation_stage=escalation.OFFERED,
            )
        except RefdeskError as exc:
            client.chat_postEphemeral(
                channel=where["channel"], user=user, text=f"refdesk: {exc}.", thread_ts=where.get("ts")
            )

    @app.action(render.FOLLOWUP_ACTION)
    def on_followup(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user, conversation_id, where = _action_context(body)
        try:
            followup.mark_for_follow_up(desk, conversation_id, names(user), Inbound("slack", _action_id(body)))
        except RefdeskError as exc:  # e.g. no mail server: say why instead of failing silently
            client.chat_postEphemeral(
                channel=where["channel"], user=user, text=f"refdesk: {exc}.", thread_ts=where.get("ts")
            )

    @app.action(render.BLOCK_ACTION)
    def on_block(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """The overflow menu's Block (Slack showed the confirm dialog first): what `!block` does."""
        ack()
        user, _, where = _action_context(body)
        conversation_id = str(body["actions"][0]["selected_option"]["value"])
        hours = blocking.DEFAULT_HOURS
        result = blocking.block(desk, conversation_id, names(user), hours, Inbound("slack", _action_id(body)))
        if result is not None:
            client.chat_postMessage(
                channel=where["channel"],
                thread_ts=where.get("ts"),
                text=render.escape(blocking.summary(result, hours)),
                unfurl_links=False,
            )

    tag_modal.register(app, desk)

    @app.command("/refdesk")
    def on_command(ack: Ack, command: dict[str, Any]) -> None:
        try:
            text = command_reply(desk, command, names)
        except RefdeskError as exc:
            text = f"refdesk: {exc}"
        ack(response_type="ephemeral", text=text)


def reply_body(text: str, skipped: list[str]) -> str:
    """What the patron reads: the text, plus a word about files that stayed in Slack."""
    body = to_plain_text(text).strip()
    notes = "".join(f"[a file could not be forwarded: {name}]" for name in skipped)
    return "\n".join(part for part in (body, notes) if part)


def reply_html(text: str, skipped: list[str]) -> str | None:
    """The reply's formatting as sanitised HTML (None when it has none), with the same word about files."""
    notes = "".join(f"[a file could not be forwarded: {name}]" for name in skipped)
    return staff_html(mrkdwn_to_html(text.strip()) + (f"<br>{escape(notes)}" if notes else ""))


def _channel_queues(desk: Desk, channel: str) -> list[str]:
    with desk.uow(read_only=True) as uow:
        return [q.slug for q in uow.queues.list() if q.backend is Backend.SLACK and q.room == channel]


def _your_chat(desk: Desk, slugs: list[str], user: str) -> str | None:
    """The one chat this person holds in the channel: slash commands cannot say which thread they came from."""
    with desk.uow(read_only=True) as uow:
        mine = [
            c.id for c in uow.conversations.active_in(slugs) if c.claimed_by_id == user and c.status is Status.ACTIVE
        ]
    return mine[0] if len(mine) == 1 else None


def command_reply(desk: Desk, command: dict[str, Any], names: StaffNames) -> str:
    words = (command.get("text") or "").split()
    verb = words[0].lower() if words else "help"
    with desk.uow() as uow:
        channel = command.get("channel_id")
        slugs = [q.slug for q in uow.queues.list() if q.backend is Backend.SLACK and q.room == channel]
        counts = uow.conversations.count_open(slugs) if slugs else {}
    user = command.get("user_id", "")
    if verb in ("transfer", "followup", "canned", "hours", "queues"):
        needs_chat = verb in ("transfer", "followup") or (verb == "canned" and len(words) > 1)
        chat = _your_chat(desk, slugs, user) if needs_chat else None
        if needs_chat and chat is None:
            return (
                "Slack does not tell apps which thread a command came from, and you do not hold exactly one "
                f"chat here: write `!{' '.join(words)}` in the chat's thread instead."
            )
        where = commands.CommandContext(slugs, user, names(user), chat, prefix="/refdesk ")
        return commands.run(desk, where, " ".join(words)) or "Done."
    if verb == "faq":
        return render.escape(_faq_reply(desk, slugs, user, names, " ".join(words[1:])))
    if verb in ("status", "on", "off", "who", "away") and not slugs:
        return "No refdesk queue is mapped to this channel."
    if verb == "status":
        return f"Queues {', '.join(slugs)}: {counts.get('waiting', 0)} waiting, {counts.get('active', 0)} active."
    if verb == "on":
        return f"You are on duty for {', '.join(duty.go_on(desk, slugs, user, names(user)))}."
    if verb == "off":
        return f"You are off duty for {', '.join(duty.go_off(desk, slugs, user))}."
    if verb == "away":
        return availability.set_away_for(desk, slugs, (command.get("text") or "").strip()[len("away") :])
    if verb == "who":
        people = sorted({person for slug in slugs for person in duty.who(desk, slug)})
        return f"On duty: {', '.join(people)}." if people else "Nobody is on duty: patrons see the away message."
    if verb == "close":
        return "Slack does not tell apps which thread a command came from: use the *Close* button on the chat."
    return HELP


def _faq_reply(desk: Desk, slugs: list[str], user: str, names: StaffNames, words: str) -> str:
    """`/refdesk faq WORDS`: the FAQ search, numbered for `!faq send N` when you hold exactly one chat here."""
    if not words.strip():
        return "Write `/refdesk faq WORDS` to search the published FAQ answers."
    chat = _your_chat(desk, slugs, user)
    if chat is not None:
        where = commands.CommandContext(slugs, user, names(user), chat, prefix="/refdesk ")
        answer = commands.run(desk, where, f"faq search {words}") or ""
        return answer.replace("/refdesk faq send N sends", "`!faq send N` in the chat's thread sends")
    return faq_entries.search_text(desk, None, user, words, "!") + (
        "\n(You do not hold exactly one chat here: search with `!faq search WORDS` in the chat's thread to send one.)"
    )


def _action_context(body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    user = body["user"]["id"]
    conversation_id = body["actions"][0].get("value", "")
    container = body.get("container") or {}
    return (
        user,
        conversation_id,
        {"channel": container.get("channel_id") or body["channel"]["id"], "ts": container.get("message_ts")},
    )


def _action_id(body: dict[str, Any]) -> str:
    """A click is one event: the same payload redelivered must not act twice."""
    action = body["actions"][0]
    return f"action:{body['user']['id']}:{action.get('action_ts') or body.get('trigger_id')}"
