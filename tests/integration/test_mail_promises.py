"""refdesk promises email only when it can send it, and says so when sending fails (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from router import delivery, staff
from router.errors import DeliveryError
from router.journal import Inbound
from router.model import OutboxKind
from web import create_app


class BrokenMailServer:
    """Configured, but every send fails as an unreachable or refusing server would."""

    def __init__(self) -> None:
        self.fail = True
        self.sent: list[str] = []

    def send(self, to, subject, body, *, message_id, html=None):  # noqa: ANN001 - the Mailer port
        if self.fail:
            raise DeliveryError(f"the mail server refused {to}: 550 mailbox unavailable")
        self.sent.append(to)


@pytest.fixture
def client(container):
    app = create_app(container)
    app.testing = True
    return app.test_client()


def start(client, **extra) -> dict:
    response = client.post("/api/v1/conversations", json={"queue": "general", "email": "ada@example.org", **extra})
    assert response.status_code == 201, response.json
    return response.json


def auth(chat: dict) -> dict:
    return {"Authorization": f"Bearer {chat['token']}"}


def email_items(container) -> int:
    with container.desk.uow() as uow:
        return uow.outbox.pending_count("email")


def test_without_a_mail_server_nothing_is_promised_by_email(client, container):
    assert container.mailer is None
    assert client.get("/api/v1/queues/general/status").json["email_available"] is False
    chat = start(client)
    assert chat["email_available"] is False
    for path in ("transcript", "answer-by-email"):
        response = client.post(f"/api/v1/conversations/{chat['id']}/{path}", json={}, headers=auth(chat))
        assert response.status_code == 409, path
        assert response.json["error"]["code"] == "email_unavailable"
        assert "no email set up" in response.json["error"]["message"]
    assert email_items(container) == 0
    health = client.get("/readyz").json
    assert health["email"] == {"configured": False, "pending": 0, "last_error": None} and health["status"] == "ok"


def test_a_failing_mail_server_shows_in_health_and_once_in_each_chats_thread(client, container):
    container.mailer = mailer = BrokenMailServer()
    assert client.get("/api/v1/queues/general/status").json["email_available"] is True
    first, second = start(client, offline=True), start(client)
    for n in (1, 2):  # two emails for the first chat (an offline question: each staff reply is emailed)
        staff.staff_says(container.desk, first["id"], "@ann:localhost", "Ann", f"Answer {n}", Inbound("test", f"r{n}"))
    response = client.post(f"/api/v1/conversations/{second['id']}/transcript", json={}, headers=auth(second))
    assert response.status_code == 202  # and one (its one transcript) for the second
    for _ in range(3):  # each email item fails once (the staff items fail too: no Matrix here)
        _deliver_every_due_item(container, mailer)
    _deliver_every_due_item(container, mailer)  # and the first chat's first email once more

    health = client.get("/readyz").json
    assert health["status"] == "degraded"
    assert health["email"]["configured"] is True and health["email"]["pending"] == 3
    assert health["email"]["last_error"] == "the mail server refused [address]: 550 mailbox unavailable"
    assert "ada@example.org" not in str(health)  # /readyz is public
    notices = _stuck_notices(container)
    assert sorted(notices) == sorted([first["id"], second["id"]])  # one per chat, not per email or retry

    mailer.fail = False
    while email_items(container):
        _deliver_every_due_item(container, mailer)
    assert client.get("/readyz").json["email"] == {"configured": True, "pending": 0, "last_error": None}
    assert mailer.sent == ["ada@example.org"] * 3


def _deliver_every_due_item(container, mailer) -> None:
    """Run the worker's delivery until nothing is due, then make the failed items due again (skip the backoff)."""
    from adapters.storage.tables import OutboxRow

    while delivery.deliver_one(container.desk, {}, mailer=mailer):
        pass
    with container.desk.uow() as uow:
        pending = uow.session.query(OutboxRow).filter(OutboxRow.delivered_at.is_(None))
        pending.update({OutboxRow.next_attempt_at: container.desk.clock.now()})
        uow.commit()


def _stuck_notices(container) -> list[str]:
    from adapters.storage.tables import OutboxRow

    with container.desk.uow() as uow:
        rows = uow.session.query(OutboxRow).filter(OutboxRow.kind == OutboxKind.NOTICE.value).all()
        return [row.conversation_id for row in rows if "could not be sent yet" in row.payload.get("text", "")]
