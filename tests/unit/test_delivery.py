"""Outbox delivery against fakes: order, retries, backoff hints."""

from datetime import timedelta

from router import conversations as uc
from router.delivery import deliver_one, retry_delay, take
from router.errors import DeliveryError
from router.model import Backend, OutboxKind, Queue
from tests.unit.fakes import FakeStaffChannel, make_desk

GENERAL = Queue("general", "General", Backend.MATRIX, "!room:localhost")


def drain(desk, channels, limit=50, mailer=None):
    for _ in range(limit):
        if not deliver_one(desk, channels, mailer=mailer):
            return


def test_thread_root_first_then_messages_in_order_with_stable_keys():
    desk, store, _, _ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    conversation, token = uc.start_conversation(desk, "general")
    for body in ("one", "two", "three"):
        uc.patron_says(desk, conversation.id, token, body, None)
    drain(desk, {Backend.MATRIX: channel})
    assert [kind for kind, _, _ in channel.calls] == ["open_thread", "message:one", "message:two", "message:three"]
    assert store.conversations[conversation.id].staff_thread_id == "$open_thread-1"
    assert all(item.delivered_at for item in store.outbox)
    keys = [key for _, _, key in channel.calls]
    assert len(set(keys)) == 4


def test_a_failure_is_retried_after_the_platform_hint_and_blocks_later_messages():
    desk, store, clock, _ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    conversation, token = uc.start_conversation(desk, "general")
    uc.patron_says(desk, conversation.id, token, "first", None)
    channel.fail_next.append(DeliveryError("429", retry_after=7))
    drain(desk, {Backend.MATRIX: channel})
    assert channel.calls == []  # the root failed; its message must wait behind it
    assert store.outbox[0].attempts == 1 and store.outbox[0].last_error == "429"
    clock.advance(6.9)
    drain(desk, {Backend.MATRIX: channel})
    assert channel.calls == []
    clock.advance(0.2)
    drain(desk, {Backend.MATRIX: channel})
    assert [kind for kind, _, _ in channel.calls] == ["open_thread", "message:first"]
    assert channel.maybe_sent == [False, True, False]  # the retry is flagged so Slack can look before re-posting


def test_unexpected_exceptions_become_retries_not_losses():
    desk, store, clock, _ = make_desk(GENERAL)

    class Exploding(FakeStaffChannel):
        def open_thread(self, queue, conversation, key, maybe_sent=False):
            raise ConnectionResetError("peer went away")

    uc.start_conversation(desk, "general")
    drain(desk, {Backend.MATRIX: Exploding()})
    assert store.outbox[0].delivered_at is None and "ConnectionResetError" in store.outbox[0].last_error


def test_missing_backend_is_a_permanent_but_kept_failure():
    desk, store, _, _ = make_desk(GENERAL)
    uc.start_conversation(desk, "general")
    drain(desk, {})
    item = store.outbox[0]
    assert item.delivered_at is None and item.attempts == 1 and "no matrix connection" in item.last_error


def test_leased_item_is_not_taken_twice_until_the_lease_expires():
    desk, _, clock, _ = make_desk(GENERAL)
    uc.start_conversation(desk, "general")

    def lease():
        with desk.uow() as uow:
            item = uow.outbox.lease_due(clock.now(), clock.now() + timedelta(seconds=60))
            uow.commit()
            return item

    assert lease() is not None
    assert lease() is None  # a crashed worker's item stays leased...
    clock.advance(61)
    assert lease() is not None  # ...until its lease runs out, then another worker takes it


def test_backoff_grows_and_is_capped():
    delays = [retry_delay(n, DeliveryError("x")) for n in range(1, 20)]
    assert delays[0] <= 0.5 and delays[-1] <= 300 and delays[5] > delays[1]
    assert retry_delay(3, DeliveryError("x", retry_after=2.5)) == 2.5


def test_a_broken_staff_channel_is_reported_and_the_patron_is_told_once():
    from router import availability, duty, health

    desk, store, clock, _ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    conversation, token = uc.start_conversation(desk, "general")
    channel.fail_next += [DeliveryError("not_in_channel", permanent=True)] * 2
    drain(desk, {Backend.MATRIX: channel})
    clock.advance(3600)
    drain(desk, {Backend.MATRIX: channel})
    with desk.uow() as uow:
        assert health.problems(uow) == {"general": "not_in_channel"}
    status = availability.queue_status(desk, "general")
    assert status["staffed"] is False and status["message"] == health.UNAVAILABLE
    notices = [m.body for m in uc.read_messages(desk, conversation.id, token)]
    assert notices == [health.UNAVAILABLE]  # once, not at every retry

    clock.advance(3600)
    drain(desk, {Backend.MATRIX: channel})  # fixed by an operator: the next delivery succeeds
    duty.go_on(desk, ["general"], "@ann:x", "Ann")
    with desk.uow() as uow:
        assert health.problems(uow) == {}
    assert availability.queue_status(desk, "general")["staffed"] is True


def test_a_failing_mail_server_never_holds_back_the_staff_thread():
    desk, store, clock, _ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    conversation, token = uc.start_conversation(desk, "general", email="ada@example.org")
    uc.request_transcript(desk, conversation.id, token)
    uc.patron_says(desk, conversation.id, token, "after the transcript request", None)

    class DownMailer:
        sent: list = []

        def send(self, to, subject, body, *, message_id):
            raise DeliveryError("mail server down")

    drain(desk, {Backend.MATRIX: channel}, mailer=DownMailer())
    kinds = [kind for kind, _, _ in channel.calls]
    assert kinds[:2] == ["open_thread", "message:after the transcript request"]
    assert [k for k in kinds[2:] if "could not be sent yet (mail server down)" in k] == kinds[2:]  # staff are told
    assert len(kinds) == 3
    email = next(item for item in store.outbox if item.lane == "email")
    assert email.delivered_at is None and email.last_error == "mail server down"
    with desk.uow() as uow:
        from router import health

        assert health.problems(uow) == {}  # a mail problem is not a staff-channel problem


def test_take_marks_finished_sends_and_leases_the_chats_next_in_the_same_transaction():
    desk, store, _, _ = make_desk(GENERAL)
    channels = {Backend.MATRIX: FakeStaffChannel()}
    first, token = uc.start_conversation(desk, "general")
    uc.patron_says(desk, first.id, token, "after the root", None)
    second, _ = uc.start_conversation(desk, "general")
    roots = take(desk, channels, 60, None, limit=10)
    assert [(t.item.conversation_id, t.item.kind) for t in roots] == [
        (first.id, OutboxKind.OPEN_THREAD),
        (second.id, OutboxKind.OPEN_THREAD),
    ]
    assert take(desk, channels, 60, None, limit=10) == []  # nothing overtakes a root still in flight
    following = take(desk, channels, 60, None, limit=10, delivered=[(roots[0], "$first-root")])
    assert [t.message.body for t in following] == ["after the root"]  # due once its root is marked
    assert following[0].conversation.staff_thread_id == "$first-root"
    assert store.conversations[first.id].staff_thread_id == "$first-root"
    assert store.outbox[0].delivered_at is not None and store.outbox[0].staff_ref == "$first-root"
    assert store.outbox[2].delivered_at is None  # the second chat's root is still in flight


class AsyncFace:
    """A platform client on an event loop (as Matrix's): `submit` runs the coroutine to the end here."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[str] = []
        self.fail = fail

    def submit(self, coroutine):
        from concurrent.futures import Future

        future: Future = Future()
        try:
            coroutine.send(None)
        except StopIteration as done:
            future.set_result(done.value)
        return future

    async def open_thread(self, queue, conversation, key, maybe_sent=False):
        if self.fail:
            raise self.fail
        self.sent.append("root")
        return "$root"


def test_a_platform_with_an_event_loop_gets_thread_posts_as_coroutines_and_the_rest_on_threads():
    from router.delivery import finish, send, start_send

    desk, store, _, _ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    channel.aio = AsyncFace()
    uc.start_conversation(desk, "general")
    (root,) = take(desk, {Backend.MATRIX: channel}, 60, None, limit=1)
    outcome = start_send(root).result()
    assert outcome == "$root" and channel.aio.sent == ["root"] and channel.calls == []  # not the blocking call
    finish(desk, root, outcome)
    assert store.outbox[0].delivered_at is not None

    plain = FakeStaffChannel()  # no `aio` (Slack, say): the worker runs `send` on a thread
    uc.start_conversation(desk, "general")
    (other,) = take(desk, {Backend.MATRIX: plain}, 60, None, limit=1)
    assert start_send(other) is None
    assert send(other) == "$open_thread-1"


def test_an_async_send_that_raises_is_an_outcome_to_retry_not_an_exception():
    from router.delivery import finish, start_send

    desk, store, _, _ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    channel.aio = AsyncFace(fail=ConnectionResetError("peer went away"))
    uc.start_conversation(desk, "general")
    (root,) = take(desk, {Backend.MATRIX: channel}, 60, None, limit=1)
    outcome = start_send(root).result()
    assert isinstance(outcome, DeliveryError) and "ConnectionResetError" in str(outcome)
    finish(desk, root, outcome)
    assert store.outbox[0].delivered_at is None and store.outbox[0].attempts == 1
