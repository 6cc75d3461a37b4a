"""slack-bolt listeners: translate Slack payloads into use-case calls, nothing more.

The same listeners serve the HTTP Events API (`/slack/events`) and Socket Mode.
Bolt acknowledges events itself and runs these in its thread pool after the
ack, so Slack's 3-second deadline never depends on our database.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from adapters.slack import faq_modal, render, tag_modal
from adapters.slack.files import FileFetcher
from adapters.slack.inbound import Kind, SlackIntent, staff_intent, to_command_text, to_plain_text
from adapters.slack.mrkdwn import mrkdwn_to_html
from adapters.staff_html import staff_html
from router import blocking, commands, escalation, faq_entries, followup, staff, staff_events, transfer
from router.commands import is_command
from router.errors import RefdeskError
from router.journal import Desk, Inbound
from router.model import Backend, Status
from router.staff_events import Action, FetchedFiles, StaffEvent

log = logging.getLogger(__name__)

HELP = (
    "*refdesk* — each patron chat is a thread in this channel.\n"
    "• *Claim* with the button on the chat, or just reply in its thread.\n"
    "• Reply in the thread to answer; start a line with `//` for a note the patron never sees.\n"
    "• *Close* with the button on the chat.\n"
    "• `/refdesk on` / `off` / `who`: go on or off duty for this channel's queues, or see who is on.\n"
    "• `/refdesk away [closed|holiday|nobody] TEXT` sets what patrons see when nobody can answer.\n"
    "• `/refdesk status` shows waiting and active chats in this channel; `/refdesk hours` today's hours.\n"
    "• *Search FAQ* on a chat, or `/refdesk faq WORDS`, searches the FAQ; in a thread `!faq search WORDS`"
    " then `!faq send N` sends an answer,"
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


def register(app: App, desk: Desk, names: StaffNames, fetch: FileFetcher) -> None:
    @app.event("message")
    def on_message(event: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
        intent = staff_intent(event, context.get("bot_user_id") or "")
        if intent is None:
            return
        staff_event = message_event(intent, context.get("bot_user_id") or "", names, fetch)
        answer = staff_events.handle(desk, staff_event)
        if answer is not None:  # a command typed where no chat is (its answers in a chat go through the outbox)
            client.chat_postEphemeral(
                channel=intent.channel, user=intent.user, text=render.escape(answer.text), thread_ts=answer.thread
            )

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
    faq_modal.register(app, desk, names)

    @app.command("/refdesk")
    def on_command(ack: Ack, command: dict[str, Any]) -> None:
        try:
            text = command_reply(desk, command, names)
        except RefdeskError as exc:  # e.g. a bad FAQ search: say why rather than time out
            text = f"refdesk: {exc}"
        ack(response_type="ephemeral", text=text)


def message_event(intent: SlackIntent, bot_user: str, names: StaffNames, fetch: FileFetcher) -> StaffEvent:
    """A `message` event as `router.staff_events` reads it: reply, files, edit, delete or `!command`."""
    common = {
        "backend": Backend.SLACK,
        "room": intent.channel,
        "thread": intent.thread_ts,
        "sender_id": intent.user,
        "inbound": Inbound("slack", intent.dedupe_id),  # also the relayed message's reference, for replies
        # Slack answers our post, staff reply at once, we record the thread id a moment later: wait for it
        "patience": 5.0 if bot_user and intent.parent_user == bot_user else 0.0,
    }
    message_ref = f"{intent.channel}:{intent.ts}"
    if intent.kind is Kind.EDIT:
        html = staff_html(mrkdwn_to_html(intent.text))
        text = to_plain_text(intent.text)
        return StaffEvent(Action.EDIT, sender_name="", body=text, html=html, target=message_ref, **common)
    if intent.kind is Kind.DELETE:
        return StaffEvent(Action.DELETE, sender_name="", target=message_ref, **common)
    name = names(intent.user)
    if is_command(to_plain_text(intent.text)) and not intent.files:
        return StaffEvent(Action.COMMAND, sender_name=name, body=to_command_text(intent.text), **common)
    text = commands.unescape(intent.text)
    if not intent.files:
        return StaffEvent(Action.REPLY, sender_name=name, body=reply_body(text), html=reply_html(text), **common)

    def files() -> FetchedFiles:
        fetched, skipped = fetch(intent.files)
        return fetched, [(name, "too large, or Slack did not hand it over") for name in skipped]

    return StaffEvent(
        Action.FILE, sender_name=name, body=reply_body(text), html=reply_html(text), files=files, **common
    )


def reply_body(text: str) -> str:
    """What the patron reads (the word about files that stayed in Slack is added by `router.staff_events`)."""
    return to_plain_text(text).strip()


def reply_html(text: str) -> str | None:
    """The reply's formatting as sanitised HTML; None when it has none."""
    return staff_html(mrkdwn_to_html(text.strip()))


def slash_event(command: dict[str, Any], name: str, thread: str = "") -> StaffEvent:
    """`/refdesk VERB …` as a `!VERB …` command typed in the channel (or in `thread`), answered to its sender."""
    trigger = command.get("trigger_id")
    return StaffEvent(
        Action.COMMAND,
        Backend.SLACK,
        command.get("channel_id", ""),
        thread,
        command.get("user_id", ""),
        name,
        Inbound("slack", f"slash:{trigger}") if trigger else None,
        body=(command.get("text") or "").strip(),
        private=True,
        prefix="/refdesk ",
    )


def command_reply(desk: Desk, command: dict[str, Any], names: StaffNames) -> str:
    """What `/refdesk …` answers: `router.commands`' answer, as `!…` gives in Matrix, and what only Slack needs
    said (its buttons, and that a slash command comes from no thread: a chat's command needs the one you hold)."""
    words = (command.get("text") or "").split()
    verb = words[0].lower() if words else "help"
    channel, user = command.get("channel_id", ""), command.get("user_id", "")
    if verb == "help" or (verb not in commands.ROOM and verb not in ("close", "faq", *CHAT_VERBS)):
        return HELP
    if verb == "close":
        return "Slack does not tell apps which thread a command came from: use the *Close* button on the chat."
    thread = ""
    if verb in CHAT_VERBS and (verb != "canned" or len(words) > 1):
        thread = staff_events.held_chat_thread(desk, Backend.SLACK, channel, user) or ""
        if not thread:
            return (
                "Slack does not tell apps which thread a command came from, and you do not hold exactly one "
                f"chat here: write `!{' '.join(words)}` in the chat's thread instead."
            )
    if verb == "faq":
        return render.escape(_faq_reply(desk, command, names, " ".join(words[1:])))
    answer = staff_events.handle(desk, slash_event(command, names(user), thread))
    return answer.text if answer is not None else "Done."


CHAT_VERBS = ("transfer", "followup", "canned")  # commands of a chat's thread that `/refdesk` offers too


def _faq_reply(desk: Desk, command: dict[str, Any], names: StaffNames, words: str) -> str:
    """`/refdesk faq WORDS`: the FAQ search, numbered for `!faq send N` when you hold exactly one chat here."""
    if not words.strip():
        return "Write `/refdesk faq WORDS` to search the published FAQ answers."
    channel, user = command.get("channel_id", ""), command.get("user_id", "")
    thread = staff_events.held_chat_thread(desk, Backend.SLACK, channel, user)
    if thread is not None:
        search = slash_event({**command, "text": f"faq search {words}"}, names(user), thread)
        answer = staff_events.handle(desk, search)
        text = answer.text if answer is not None else ""
        return text.replace("/refdesk faq send N sends", "`!faq send N` in the chat's thread sends")
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
