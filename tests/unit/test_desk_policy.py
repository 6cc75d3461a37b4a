"""Desk policy with fakes: transfer and rollover, canned responses, staff names, chat commands."""

import pytest

from router import canned, commands, duty, errors, escalation, queue_settings, staff, transfer
from router import conversations as uc
from router.delivery import deliver_one
from router.journal import Inbound
from router.model import Backend, EventType, OutboxKind, Queue, Status
from tests.unit.fakes import FakeStaffChannel, make_desk


@pytest.fixture
def world():
    desk, store, clock, _ = make_desk(
        Queue("ref", "Reference", Backend.SLACK, "C1"),
        Queue("youth", "Youth services", Backend.MATRIX, "!y:l"),
    )
    channels = {Backend.SLACK: FakeStaffChannel(), Backend.MATRIX: FakeStaffChannel()}
    return desk, store, clock, channels


def deliver_all(desk, channels):
    while deliver_one(desk, channels):
        pass


def statuses(store, conversation_id):
    return [e.data for e in store.events if e.conversation_id == conversation_id and e.type is EventType.STATUS]


def test_transfer_opens_a_linked_thread_in_the_target_and_marks_the_old_one(world):
    desk, store, _, channels = world
    conversation, token = uc.start_conversation(desk, "ref", name="Ada")
    uc.patron_says(desk, conversation.id, token, "Do you have picture books about <!channel> volcanoes?", "m1")
    staff.claim(desk, conversation.id, "U1", "Ann Librarian")
    deliver_all(desk, channels)
    old_thread = store.conversations[conversation.id].staff_thread_id
    uc.patron_says(desk, conversation.id, token, "for a 6 year old", "m2")  # not yet delivered: superseded

    transfer.transfer(desk, conversation.id, "youth", "Ann Librarian", escalation_stage=escalation.OFFERED)
    moved = store.conversations[conversation.id]
    assert (moved.queue_slug, moved.transferred_from, moved.status, moved.claimed_by) == (
        "youth",
        "ref",
        Status.WAITING,
        None,
    )
    assert statuses(store, conversation.id)[-1]["status"] == "waiting"
    assert "passed to Youth services" in uc.read_messages(desk, conversation.id, token)[-1].body
    deliver_all(desk, channels)

    slack, matrix = channels[Backend.SLACK], channels[Backend.MATRIX]
    assert not any(call[0] == "message:for a 6 year old" for call in slack.calls)  # not posted in the old thread
    new_thread = store.conversations[conversation.id].staff_thread_id
    assert [c[0] for c in matrix.calls][0] == "open_thread"
    context = [c[0] for c in matrix.calls if c[0].startswith("notice:")][0]
    assert "Transferred by Ann Librarian from Reference." in context and "Ada: for a 6 year old" in context
    assert f"Earlier thread: link://ref/{old_thread}" in context
    leaving = [c[0] for c in slack.calls if c[0].startswith("notice:")][-1]
    assert "Replies here no longer reach the patron" in leaving and f"New thread: link://youth/{new_thread}" in leaving
    assert ("ref", old_thread) in slack.where and slack.calls[-1][0] == "update_root:transferred to Youth services"
    with pytest.raises(errors.InvalidInput):
        transfer.transfer(desk, conversation.id, "youth", "Ann", escalation_stage=escalation.OFFERED)
    with pytest.raises(errors.UnknownQueue):
        transfer.transfer(desk, conversation.id, "nowhere", "Ann", escalation_stage=escalation.OFFERED)


def test_rollover_to_a_staffed_backup_after_t2_once_and_from_stored_state(world):
    desk, store, clock, channels = world
    queue_settings.set_backup(desk, "ref", "youth")
    duty.go_on(desk, ["ref"], "U1", "Ann")
    conversation, _ = uc.start_conversation(desk, "ref")
    clock.advance(61)
    escalation.escalate_due(desk)  # T1: nudge, mentioning whoever is on duty
    assert [(i.payload["text"], i.payload.get("mention")) for i in store.outbox if i.kind is OutboxKind.NOTICE] == [
        ("Waiting 61 s and unclaimed. On duty: Ann.", ["U1"])
    ]
    clock.advance(60)
    assert escalation.escalate_due(desk) == 0
    assert store.conversations[conversation.id].queue_slug == "ref"  # the backup has nobody on duty: no rollover
    duty.go_on(desk, ["youth"], "@bo:l", "Bo")
    assert escalation.escalate_due(desk) == 1
    moved = store.conversations[conversation.id]
    assert (moved.queue_slug, moved.escalation_stage) == ("youth", escalation.ROLLED_OVER)
    assert escalation.escalate_due(desk) == 0  # a restarted sweep reads the stage: no second rollover
    clock.advance(60)
    assert escalation.escalate_due(desk) == 1  # T3 still applies in the backup queue
    assert statuses(store, conversation.id)[-1].get("offer_email") is True


def test_a_claim_between_sweep_and_rollover_wins(world):
    desk, store, clock, _ = world
    queue_settings.set_backup(desk, "ref", "youth")
    conversation, _ = uc.start_conversation(desk, "ref")
    staff.claim(desk, conversation.id, "U1", "Ann")
    assert transfer.transfer(desk, conversation.id, "youth", None, escalation_stage=escalation.ROLLED_OVER) is None
    assert store.conversations[conversation.id].queue_slug == "ref"


def test_queue_settings_are_validated(world):
    desk, *_ = world
    with pytest.raises(errors.InvalidInput):
        queue_settings.set_backup(desk, "ref", "ref")
    with pytest.raises(errors.UnknownQueue):
        queue_settings.set_backup(desk, "ref", "nowhere")
    with pytest.raises(errors.InvalidInput):
        queue_settings.set_escalation(desk, "ref", {"nudge_after": 500, "rollover_after": 100})
    with pytest.raises(errors.InvalidInput):
        queue_settings.set_escalation(desk, "ref", {"snooze": 5})
    with pytest.raises(errors.InvalidInput):
        queue_settings.set_staff_name(desk, "ref", "nickname")
    assert queue_settings.set_staff_name(desk, "ref", "role: Librarian").staff_name == "role:Librarian"


@pytest.mark.parametrize(
    "policy,shown", [("full", "Ann Librarian"), ("first", "Ann"), ("role:Reference librarian", "Reference librarian")]
)
def test_patrons_see_staff_as_the_queue_says_and_staff_see_real_names(world, policy, shown):
    desk, store, _, _ = world
    queue_settings.set_staff_name(desk, "ref", policy)
    conversation, token = uc.start_conversation(desk, "ref")
    staff.staff_says(desk, conversation.id, "U1", "Ann Librarian", "Hello!")
    assert uc.read_messages(desk, conversation.id, token)[-1].author_name == shown
    assert statuses(store, conversation.id)[-1]["claimed_by"] == shown
    assert store.conversations[conversation.id].claimed_by == "Ann Librarian"


def test_canned_responses_fill_variables_in_the_patrons_language(world):
    desk, store, _, _ = world
    with pytest.raises(errors.InvalidInput):
        canned.save(desk, "hours", "We open at {opening}")
    with pytest.raises(errors.InvalidInput):
        canned.save(desk, "Bad Name!", "x")
    canned.save(desk, "hello", "Hello {patron_name}, welcome to {queue}. Today: {hours_today}.")
    canned.save(desk, "hello", "Hola {patron_name}, bienvenida a {queue}.", "es")
    conversation, token = uc.start_conversation(desk, "ref", name="Ada", language="es-MX")
    message = canned.send(desk, conversation.id, "U1", "Ann", "hello")
    assert message.body == "Hola Ada, bienvenida a Reference."
    assert uc.read_messages(desk, conversation.id, token)[-1].author_name == "Ann"
    other, _ = uc.start_conversation(desk, "ref")
    assert canned.send(desk, other.id, "U1", "Ann", "HELLO").body == (
        "Hello , welcome to Reference. Today: open around the clock."
    )
    with pytest.raises(errors.InvalidInput):
        canned.send(desk, other.id, "U1", "Ann", "nope")
    assert "hello [en, es]" in canned.list_text(desk)


def test_commands_answer_clearly_and_never_reach_the_patron(world):
    desk, store, _, _ = world
    conversation, token = uc.start_conversation(desk, "ref")
    here = commands.CommandContext(["ref"], "U1", "Ann", conversation.id)
    assert commands.is_command("!transfer youth") and not commands.is_command("!!hi") and not commands.is_command("!")
    assert commands.unescape("!!hi") == "!hi"
    assert commands.run(desk, here, "!frobnicate").startswith("Unknown command !frobnicate.")
    assert "Usage: !transfer" in commands.run(desk, here, "!transfer")
    assert "no queue named 'nowhere'" in commands.run(desk, here, "!transfer nowhere")
    assert "works inside a chat's thread" in commands.run(desk, commands.CommandContext(["ref"], "U1", "Ann"), "!close")
    assert commands.run(desk, here, "!claim") is None
    assert commands.run(desk, commands.CommandContext(["ref"], "U2", "Bo", conversation.id), "!claim") == (
        "Already claimed by Ann."
    )
    assert [m.author.value for m in uc.read_messages(desk, conversation.id, token)] == []


def test_a_redelivered_room_command_runs_once(world):
    desk, store, _, _ = world
    context = commands.CommandContext(["ref"], "U1", "Ann", inbound=Inbound("matrix", "$e1"))
    assert commands.run(desk, context, "!on") == "Ann is on duty for Reference."
    assert commands.run(desk, context, "!on") is None
    assert duty.who(desk, "ref") == ["Ann"]
    assert not any(item.kind is OutboxKind.NOTICE for item in store.outbox)


def test_nudge_mentions_are_only_well_formed_staff_ids():
    from adapters.matrix import render as matrix_render
    from adapters.slack import render as slack_render
    from tests.unit.builders import make_conversation

    assert slack_render.mentions(["U0ANN", "<!channel>", "W12", "here"]) == " <@U0ANN> <@W12>"
    content = matrix_render.notice_content(make_conversation("$root"), "Waiting", ["@ann:l", "<b>x</b>"])
    assert content["m.mentions"] == {"user_ids": ["@ann:l"]} and "<b>x" not in content["formatted_body"]
    assert matrix_render.notice_content(make_conversation("$root"), "Done")["m.mentions"] == {}
