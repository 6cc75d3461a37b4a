"""Ghost chats on SQLite and PostgreSQL: presence in the database, the sweep, positions, the stream's return."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from adapters.storage.tables import ConversationRow
from router import abandonment, escalation, staff
from router import conversations as uc
from router.model import Status
from router.queueing import place_in_queue
from tests.unit.fakes import FakeClock
from web import create_app


@pytest.fixture
def desk(container):
    container.desk.clock = FakeClock(datetime.now(UTC))
    return container.desk


def test_the_sweep_closes_only_chats_whose_patron_is_gone(desk):
    ghost, _ = uc.start_conversation(desk, "general")
    desk.clock.advance(1)
    watching, _ = uc.start_conversation(desk, "general")
    claimed, _ = uc.start_conversation(desk, "general")
    staff.claim(desk, claimed.id, "@ann:localhost", "Ann")
    desk.clock.advance(200)
    abandonment.still_here(desk, [watching.id])  # the open stream's heartbeat
    abandonment.still_here(desk, [claimed.id])  # changes nothing on a chat that is not waiting
    assert place_in_queue(desk, watching.id)["position"] == 2
    desk.clock.advance(101)
    assert place_in_queue(desk, watching.id)["position"] == 1  # the ghost holds no place, even before the sweep
    assert abandonment.close_abandoned(desk) == 1
    with desk.uow() as uow:
        gone, here, busy = (uow.conversations.get(c.id) for c in (ghost, watching, claimed))
    assert (gone.status, gone.abandoned, gone.closed_at) == (Status.CLOSED, True, desk.clock.now())
    assert here.status is Status.WAITING and here.last_seen_at == desk.clock.now() - timedelta(seconds=101)
    assert busy.status is Status.ACTIVE and busy.last_seen_at == busy.created_at
    desk.clock.advance(600)
    assert escalation.escalate_due(desk) == 1  # `watching` is gone too now: closed, and nobody is nudged
    with desk.uow() as uow:
        assert uow.conversations.get(watching.id).abandoned
        texts = [i.payload.get("text", "") for i in uow.outbox.for_conversation(ghost.id)]
    assert not [text for text in texts if "unclaimed" in text]


def test_chats_from_before_the_upgrade_count_from_their_start(desk, container):
    legacy, _ = uc.start_conversation(desk, "general")
    with container.engine.begin() as connection:  # a row written before migration 0013 filled the column
        connection.execute(sa.update(ConversationRow).values(last_seen_at=None))
    desk.clock.advance(301)
    assert abandonment.close_abandoned(desk) == 1
    with desk.uow() as uow:
        assert uow.conversations.get(legacy.id).status is Status.CLOSED


def test_the_patrons_stream_reconnecting_reopens_an_abandoned_chat(desk, container):
    ghost, token = uc.start_conversation(desk, "general")
    desk.clock.advance(301)
    abandonment.close_abandoned(desk)
    desk.clock.advance(120)
    client = create_app(container).test_client()
    response = client.get(f"/api/v1/conversations/{ghost.id}/events?token={token}", buffered=False)
    received = ""
    for chunk in response.response:  # the replay ends with the reopening; then the stream follows live
        received += chunk.decode() if isinstance(chunk, bytes) else chunk
        if '"status":"waiting"' in received:
            break
    response.close()
    statuses = [
        json.loads(line[len("data: ") :])
        for line in received.splitlines()
        if line.startswith("data: ") and '"status"' in line
    ]
    assert [(s["status"], s.get("abandoned")) for s in statuses] == [("closed", True), ("waiting", None)]
    with desk.uow() as uow:
        back = uow.conversations.get(ghost.id)
    assert (back.status, back.abandoned, back.last_seen_at) == (Status.WAITING, False, desk.clock.now())
