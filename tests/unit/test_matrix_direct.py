"""Patrons' direct chats with the bot: which events are patron text, what an invite says, and the per-sender limits."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from nio.events.invite_events import InviteMemberEvent

from adapters.blocklist import make_blocklist
from adapters.check import dm_queue_findings
from adapters.matrix.direct import LIMIT_NOTICE, DirectMessages, PatronText, invitation, patron_text
from adapters.matrix.dm_limits import SenderLimits
from adapters.settings import Settings
from router import blocking
from router.model import Backend, Queue
from tests.unit.fakes import make_desk

BOT = "@refdesk:hs"
SENDER = "@signal_4915550100:hs"


def message(**content):
    return {"type": "m.room.message", "sender": SENDER, "event_id": "$e1", "content": {"msgtype": "m.text", **content}}


def test_patron_text_is_a_text_message_from_someone_else_and_not_an_edit():
    assert patron_text(message(body="Hello"), BOT) == PatronText(SENDER, "$e1", "Hello")
    assert patron_text({**message(body="Hello"), "sender": BOT}, BOT) is None
    assert patron_text(message(body="  "), BOT) is None
    assert patron_text(message(body="* Hi", **{"m.relates_to": {"rel_type": "m.replace"}}), BOT) is None
    assert patron_text({**message(body="x"), "type": "m.reaction"}, BOT) is None


def test_a_patrons_edit_names_the_message_it_corrects_and_a_file_carries_its_media():
    edit = message(body="* Hi there", **{"m.new_content": {"msgtype": "m.text", "body": "Hi there"}})
    edit["content"]["m.relates_to"] = {"rel_type": "m.replace", "event_id": "$e0"}
    assert patron_text(edit, BOT) == PatronText(SENDER, "$e1", "Hi there", target="$e0")
    file = message(msgtype="m.image", body="scan.png", url="mxc://hs/abc", info={"mimetype": "image/png", "size": 3})
    found = patron_text(file, BOT)
    assert found is not None and found.body == "" and found.media is not None
    assert (found.media.url, found.media.name, found.media.mimetype) == ("mxc://hs/abc", "scan.png", "image/png")


def test_an_invite_names_its_sender_and_whether_it_is_a_direct_chat():
    state = [
        {"type": "m.room.create", "state_key": "", "sender": SENDER, "content": {}},
        {
            "type": "m.room.member",
            "state_key": BOT,
            "sender": SENDER,
            "content": {"membership": "invite", "is_direct": True},
        },
    ]
    assert invitation(state, BOT) == (SENDER, True)
    state[1]["content"].pop("is_direct")
    assert invitation(state, BOT) == (SENDER, False)
    assert invitation([], BOT) == (None, False)


def test_an_invite_as_nio_parses_it_still_says_it_is_direct():
    """nio's InviteMemberEvent moves `content` off `source`: the flag must be read where nio puts it."""
    member = {
        "type": "m.room.member",
        "state_key": BOT,
        "sender": SENDER,
        "content": {"membership": "invite", "is_direct": True},
    }
    assert invitation([InviteMemberEvent.from_dict(member)], BOT) == (SENDER, True)


def test_over_the_limit_a_sender_is_told_once_per_window_and_others_are_not_counted():
    limits = SenderLimits("3/minute", secret=b"s")
    verdicts = [limits.hit(SENDER) for _ in range(6)]
    assert [(v.over, v.tell) for v in verdicts] == [(False, False)] * 3 + [(True, True)] + [(True, False)] * 2
    assert not limits.hit("@someone-else:hs").over


class FakeConnection:
    """What DirectMessages uses of the Matrix connection: blocking work off the loop, and sends."""

    user_id = BOT

    def __init__(self):
        self.sent = []
        self._pool = ThreadPoolExecutor(1)
        self.client = type("Client", (), {"rooms": {}})()

    async def run_blocking(self, function, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: function(*args, **kwargs))

    async def room_send(self, room_id, content, tx_id, event_type="m.room.message"):
        self.sent.append((room_id, content["body"], tx_id))


def test_messages_over_the_limit_are_dropped_with_one_notice_and_no_content_in_the_log(caplog):
    desk, store, _, _ = make_desk(Queue("ask", "Ask", Backend.MATRIX, "!staff:hs"))
    connection = FakeConnection()
    direct = DirectMessages(connection, desk, None, "ask", timedelta(hours=12), SenderLimits("2/minute"))
    caplog.set_level(logging.DEBUG)

    async def patron_writes():
        for number in range(5):
            await direct.handle("!dm:hs", PatronText(SENDER, f"$e{number}", f"secret question {number}"))

    asyncio.run(patron_writes())
    assert [m.body for m in store.messages.values()] == ["secret question 0", "secret question 1"]
    assert connection.sent == [("!dm:hs", LIMIT_NOTICE, "refdesk-limit-$e2")]
    assert "secret question" not in caplog.text and SENDER not in caplog.text


def test_a_sender_blocked_from_their_chats_thread_is_dropped_and_a_new_chat_is_not_opened():
    desk, store, _, _ = make_desk(Queue("ask", "Ask", Backend.MATRIX, "!staff:hs"))
    desk.blocklist = make_blocklist("memory://", "test")
    direct = DirectMessages(FakeConnection(), desk, None, "ask", timedelta(hours=12), SenderLimits("30/minute"))

    async def writes(event_id):
        await direct.handle("!dm:hs", PatronText(SENDER, event_id, "hello"))

    asyncio.run(writes("$e1"))
    (chat,) = store.conversations.values()
    blocking.block(desk, chat.id, "Ann")
    asyncio.run(writes("$e2"))
    assert len(store.conversations) == 1 and len(store.messages) == 1


def test_files_count_against_the_file_limit_too():
    limits = SenderLimits("30/minute", files="2/minute")
    assert [limits.hit(SENDER, file=True).over for _ in range(3)] == [False, False, True]
    assert not limits.hit(SENDER).over  # text still goes


def test_refdesk_check_fails_a_dm_queue_that_does_not_exist():
    queues = [Queue("ask", "Ask", Backend.MATRIX, "!staff:hs")]
    assert [f.ok for f in dm_queue_findings(Settings(matrix_dm_queue="ask"), queues)] == [True]
    (finding,) = dm_queue_findings(Settings(matrix_dm_queue="asked"), queues)
    assert not finding.ok and "no queue 'asked'" in finding.text
    assert dm_queue_findings(Settings(), queues) == []


def test_a_patrons_redaction_of_their_message_marks_the_chats_copy_deleted():
    redaction = {"type": "m.room.redaction", "sender": SENDER, "event_id": "$r1", "redacts": "$e1", "content": {}}
    assert patron_text(redaction, BOT) == PatronText(SENDER, "$r1", "", target="$e1", deleted=True)
    v11 = {**redaction, "redacts": None, "content": {"redacts": "$e1"}}  # room version 11 moved it
    assert patron_text(v11, BOT) == PatronText(SENDER, "$r1", "", target="$e1", deleted=True)
    assert patron_text({**redaction, "sender": BOT}, BOT) is None  # the bot taking back its own lines
    desk, store, _, _ = make_desk(Queue("ask", "Ask", Backend.MATRIX, "!staff:hs"))
    direct = DirectMessages(FakeConnection(), desk, None, "ask", timedelta(hours=12), SenderLimits("30/minute"))

    async def patron_writes_then_deletes():
        await direct.handle("!dm:hs", PatronText(SENDER, "$e1", "my card number is 1234"))
        await direct.handle("!dm:hs", patron_text(redaction, BOT))

    asyncio.run(patron_writes_then_deletes())
    (message,) = store.messages.values()
    assert message.deleted_at is not None and message.body == ""
