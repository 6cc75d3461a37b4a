"""Matrix payload <-> domain translation: pure functions, small variations of valid events."""

from datetime import UTC, datetime

import pytest

from adapters.matrix import render
from adapters.matrix.inbound import Action, staff_intent
from router.model import Author, Backend, Message, Queue, Status
from tests.unit.builders import make_conversation

BOT = "@refdesk:localhost"
ROOT = "$root"
QUEUE = Queue("general", "General & Reference", Backend.MATRIX, "!r:localhost")


def conversation(**extra):
    return make_conversation(ROOT, **extra)


def thread_reply(body, sender="@ann:localhost", event_id="$e1", **content):
    return {
        "type": "m.room.message",
        "sender": sender,
        "event_id": event_id,
        "content": {
            "msgtype": "m.text",
            "body": body,
            "m.relates_to": {"rel_type": "m.thread", "event_id": ROOT},
            **content,
        },
    }


def test_patron_text_cannot_inject_html_or_mentions():
    message = Message("m1", "c1", 1, Author.PATRON, "<a href=x>@room</a> & <script>", datetime.now(UTC))
    content = render.patron_message_content(conversation(name="<b>Eve</b>"), message)
    assert content["m.mentions"] == {}
    assert "<script>" not in content["formatted_body"] and "&lt;script&gt;" in content["formatted_body"]
    assert "&lt;b&gt;Eve&lt;/b&gt;" in content["formatted_body"]
    assert content["m.relates_to"]["rel_type"] == "m.thread" and content["m.relates_to"]["event_id"] == ROOT


def test_root_describes_the_chat_and_escapes_the_page_url():
    content = render.root_content(QUEUE, conversation(page_url="https://lib/?q=<x>", language="es"))
    assert content["body"].startswith("New chat · General & Reference · https://lib/?q=<x> · waiting since 09:30 UTC")
    assert "&lt;x&gt;" in content["formatted_body"] and "General &amp; Reference" in content["formatted_body"]
    assert content["m.mentions"] == {}


def test_root_edit_replaces_the_root_with_the_owner():
    edit = render.root_edit_content(QUEUE, conversation(status=Status.ACTIVE, claimed_by="Ann"), ROOT)
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": ROOT}
    assert "claimed by Ann" in edit["m.new_content"]["body"]


def test_a_thread_reply_is_a_reply_intent():
    intent = staff_intent(thread_reply("Try the map room"), BOT)
    assert (intent.action, intent.thread_root, intent.body, intent.sender) == (
        Action.REPLY,
        ROOT,
        "Try the map room",
        "@ann:localhost",
    )


@pytest.mark.parametrize("body", ["!claim", "!CLAIM now", "!close", "!transfer youth", "!canned hours"])
def test_commands_in_the_thread_are_commands_never_replies(body):
    intent = staff_intent(thread_reply(body), BOT)
    assert (intent.action, intent.body, intent.thread_root) == (Action.COMMAND, body, ROOT)


def test_a_double_bang_sends_text_that_starts_with_a_bang():
    intent = staff_intent(thread_reply("!!Hola, ¿qué tal?"), BOT)
    assert (intent.action, intent.body) == (Action.REPLY, "!Hola, ¿qué tal?")


@pytest.mark.parametrize("key", ["✋", "✋\ufe0f", "👍", "👍\ufe0f"])
def test_claim_reactions_on_the_root(key):
    event = {
        "type": "m.reaction",
        "sender": "@ann:localhost",
        "event_id": "$r",
        "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": ROOT, "key": key}},
    }
    intent = staff_intent(event, BOT)
    assert intent.action is Action.CLAIM and intent.thread_root == ROOT


def test_ignored_events():
    assert staff_intent(thread_reply("echo", sender=BOT), BOT) is None  # our own bot
    assert (
        staff_intent({**thread_reply("x"), "content": {"msgtype": "m.text", "body": "x"}}, BOT) is None
    )  # not threaded
    other_reaction = {
        "type": "m.reaction",
        "sender": "@a:l",
        "event_id": "$r",
        "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": ROOT, "key": "😂"}},
    }
    assert staff_intent(other_reaction, BOT) is None
    edit = thread_reply("* fixed", **{"m.relates_to": {"rel_type": "m.replace", "event_id": "$e0"}})
    assert staff_intent(edit, BOT) is None


def test_reply_fallback_quote_is_stripped():
    intent = staff_intent(thread_reply("> <@bob:l> earlier text\n\nThe real answer"), BOT)
    assert intent.body == "The real answer"


def test_an_edit_of_a_reply_carries_the_new_text_and_its_target():
    event = thread_reply(
        "* Try floor 3",
        event_id="$edit",
        **{
            "m.new_content": {"msgtype": "m.text", "body": "Try floor 3"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$original"},
        },
    )
    intent = staff_intent(event, BOT)
    assert (intent.action, intent.target, intent.body) == (Action.EDIT, "$original", "Try floor 3")


def test_a_redaction_deletes_its_target():
    event = {
        "type": "m.room.redaction",
        "sender": "@ann:localhost",
        "event_id": "$red",
        "redacts": "$original",
        "content": {},
    }
    intent = staff_intent(event, BOT)
    assert (intent.action, intent.target) == (Action.DELETE, "$original")
    newer_room_version = {**event, "redacts": None, "content": {"redacts": "$other"}}
    assert staff_intent(newer_room_version, BOT).target == "$other"


@pytest.mark.parametrize("body", ["!on", "!off", "!who", "!ON please", "!help"])
def test_commands_anywhere_in_the_room(body):
    plain = {
        "type": "m.room.message",
        "sender": "@ann:localhost",
        "event_id": "$d",
        "content": {"msgtype": "m.text", "body": body},
    }
    intent = staff_intent(plain, BOT)
    assert intent.action is Action.COMMAND and intent.body == body and intent.thread_root == ""
    assert staff_intent(thread_reply(body), BOT).thread_root == ROOT
