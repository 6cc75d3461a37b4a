"""Slack payload <-> domain translation: pure functions, small variations of documented payloads."""

from datetime import UTC, datetime

import pytest

from adapters.slack import render
from adapters.slack.inbound import Kind, staff_intent, to_command_text, to_plain_text
from adapters.slack.listeners import reply_body
from router.model import Author, Backend, Message, Queue, Status
from tests.unit.builders import make_conversation

BOT = "UREFDESKBOT"
ROOT = "1732000000.000100"
QUEUE = Queue("general", "General", Backend.SLACK, "C0DESK")


def conversation(**extra):
    return make_conversation(ROOT, **extra)


def reply(text="Try floor 2", **extra):
    event = {
        "type": "message",
        "channel": "C0DESK",
        "user": "U0ANN",
        "text": text,
        "ts": "1732000001.000200",
        "thread_ts": ROOT,
        "event_ts": "1732000001.000200",
        "channel_type": "channel",
    }
    event.update(extra)
    return event


@pytest.mark.parametrize("attack", ["<!channel>", "<!here>", "<@U123>", "<!subteam^S123>", "<!everyone>"])
def test_patron_text_cannot_ping_anyone(attack):
    message = Message("m1", "c1", 1, Author.PATRON, f"help {attack} & thanks", datetime.now(UTC))
    text = render.patron_text(conversation(name="<!channel>"), message)
    assert "<" not in text and ">" not in text
    assert text == f"&lt;!channel&gt;: help {render.escape(attack)} &amp; thanks"


def test_root_blocks_offer_claim_and_close_until_claimed_then_close_only():
    waiting = render.root_blocks(QUEUE, conversation(page_url="https://lib/?q=<b>"))
    actions = [e["action_id"] for e in waiting[-1]["elements"]]
    assert actions == [
        render.CLAIM_ACTION,
        render.CLOSE_ACTION,
        render.FOLLOWUP_ACTION,
        render.FAQ_SEARCH_ACTION,
        render.TAG_ACTION,
        render.BLOCK_ACTION,
    ]
    menu = waiting[-1]["elements"][-1]
    assert menu["type"] == "overflow" and [o["value"] for o in menu["options"]] == ["c1"]
    assert menu["confirm"]["confirm"]["text"] == "Block" and "24 hours" in menu["confirm"]["text"]["text"]
    assert "&lt;b&gt;" in waiting[0]["text"]["text"]
    claimed = render.root_blocks(QUEUE, conversation(status=Status.ACTIVE, claimed_by="Ann <@U1>"))
    assert [e["action_id"] for e in claimed[-1]["elements"]] == [
        render.CLOSE_ACTION,
        render.FOLLOWUP_ACTION,
        render.FAQ_SEARCH_ACTION,
        render.TAG_ACTION,
        render.BLOCK_ACTION,
    ]
    marked = render.root_blocks(QUEUE, conversation(status=Status.ACTIVE, follow_up=True))
    assert [e["action_id"] for e in marked[-1]["elements"]] == [
        render.CLOSE_ACTION,
        render.FAQ_SEARCH_ACTION,
        render.TAG_ACTION,
        render.BLOCK_ACTION,
    ]
    assert "claimed by Ann &lt;@U1&gt;" in claimed[0]["text"]["text"]
    closed = render.root_blocks(QUEUE, conversation(status=Status.CLOSED, closed_by=Author.STAFF))
    assert [e["action_id"] for e in closed[-1]["elements"]] == [render.TAG_ACTION]  # tagging happens at close
    assert closed[-1]["elements"][0]["value"] == "c1"


def test_metadata_carries_the_idempotency_key():
    assert render.metadata("refdesk-x-1", conversation()) == {
        "event_type": render.METADATA_TYPE,
        "event_payload": {"key": "refdesk-x-1", "conversation_id": "c1"},
    }


def test_a_thread_reply_is_a_reply():
    intent = staff_intent(reply(), BOT)
    assert (intent.kind, intent.thread_ts, intent.user, intent.text) == (Kind.REPLY, ROOT, "U0ANN", "Try floor 2")
    assert intent.dedupe_id == "C0DESK:1732000001.000200"


def test_broadcasts_and_file_shares_are_replies_too():
    assert staff_intent(reply(subtype="thread_broadcast"), BOT).kind is Kind.REPLY
    shared = staff_intent(reply("", subtype="file_share", files=[{"id": "F1", "name": "map.pdf"}]), BOT)
    assert shared.kind is Kind.REPLY and shared.files == [{"id": "F1", "name": "map.pdf"}]
    assert reply_body("here &amp; <https://x.example|there> ") == "here & there (https://x.example)"


@pytest.mark.parametrize(
    "event",
    [
        reply(user=BOT),  # our own bot
        reply(bot_id="B999", user=None, subtype="bot_message"),  # another bot
        reply(bot_id="B999"),
        reply(thread_ts=None),  # channel chatter outside any thread
        reply(thread_ts="1732000001.000200"),  # a root message itself
        reply(subtype="channel_join"),
        {"type": "reaction_added"},
    ],
)
def test_ignored_messages(event):
    assert staff_intent(event, BOT) is None


def test_edit_and_delete_of_a_reply():
    changed = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C0DESK",
        "ts": "1732000009.000900",
        "event_ts": "1732000009.000900",
        "hidden": True,
        "message": {
            "type": "message",
            "user": "U0ANN",
            "text": "Floor 3",
            "ts": "1732000001.000200",
            "thread_ts": ROOT,
            "edited": {"user": "U0ANN", "ts": "1732000009.000000"},
        },
        "previous_message": {
            "type": "message",
            "user": "U0ANN",
            "text": "Floor 2",
            "ts": "1732000001.000200",
            "thread_ts": ROOT,
        },
    }
    intent = staff_intent(changed, BOT)
    assert (intent.kind, intent.ts, intent.text, intent.dedupe_id) == (
        Kind.EDIT,
        "1732000001.000200",
        "Floor 3",
        "C0DESK:1732000009.000900",
    )
    deleted = {
        "type": "message",
        "subtype": "message_deleted",
        "channel": "C0DESK",
        "hidden": True,
        "ts": "1732000010.000100",
        "event_ts": "1732000010.000100",
        "deleted_ts": "1732000001.000200",
        "previous_message": changed["previous_message"],
    }
    intent = staff_intent(deleted, BOT)
    assert (intent.kind, intent.ts, intent.thread_ts) == (Kind.DELETE, "1732000001.000200", ROOT)


def test_staff_markup_becomes_plain_text_for_the_patron():
    text = "See <https://lib.example/hours|our hours> or <https://lib.example>, ask <@U0BO|bo> in <#C1|ref> &amp; &lt;3"
    assert to_plain_text(text) == (
        "See our hours (https://lib.example/hours) or https://lib.example, ask @bo in #ref & <3"
    )
    assert to_plain_text("<@U0BO> and <!here>") == "@colleague and @here"


def test_a_command_keeps_the_address_slack_wrapped_a_link_in():
    typed = "!show <http://library.example/ill|library.example/ill> ILL &amp; more <@U0ANN|ann>"
    assert to_command_text(typed) == "!show http://library.example/ill ILL & more @ann"
