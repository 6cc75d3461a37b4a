"""The bot's session: one login however many workers start at once, on SQLite and PostgreSQL.

A fake homeserver client stands in for matrix-nio; the database and its lock are real.
The end-to-end proof against Synapse is tests/e2e/test_workers_start_together.py.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from nio import LoginResponse, WhoamiError, WhoamiResponse

from adapters.matrix import login
from tests import own_loop
from tests.conftest import make_container
from tests.e2e.conftest import wait_until

BOT = "@refdesk:localhost"
LOGINS = itertools.count(1)


@dataclass
class FakeHomeserver:
    """What the homeserver knows: the sessions it issued, and whether it answers at all."""

    tokens: set[str] = field(default_factory=set)
    logins: list[str] = field(default_factory=list)
    down: bool = False
    during_login: object = None  # called while a login is in progress (inside the lock)


class FakeClient:
    def __init__(self, server: FakeHomeserver):
        self.server, self.user_id, self.device_id, self.access_token = server, "", "", ""  # as nio before login

    def restore_login(self, user_id: str, device_id: str, access_token: str) -> None:
        self.user_id, self.device_id, self.access_token = user_id, device_id, access_token

    async def whoami(self):
        if self.server.down:
            return WhoamiError("Bad Gateway", status_code="502")
        if self.access_token not in self.server.tokens:
            return WhoamiError("Unknown token", status_code="M_UNKNOWN_TOKEN")
        return WhoamiResponse(BOT, self.device_id, False)

    async def login(self, password: str, device_name: str):
        if self.server.during_login:
            self.server.during_login()
        number = next(LOGINS)
        self.user_id, self.device_id, self.access_token = BOT, f"DEVICE{number}", f"token-{number}"
        self.server.tokens.add(self.access_token)
        self.server.logins.append(self.device_id)
        return LoginResponse(BOT, self.device_id, self.access_token)


def sign_in(container, server: FakeHomeserver) -> FakeClient:
    client = FakeClient(server)
    login.sign_in(container.desk, client, own_loop.run, BOT, "password", "refdesk")
    return client


def stored(container) -> dict:
    with container.desk.uow() as uow:
        return json.loads(uow.kv.get(login.session_key(BOT)) or "null")


def test_workers_signing_in_together_log_in_once_and_share_the_session(container):
    server = FakeHomeserver()
    if container.engine.dialect.name == "postgresql":
        # Hold the login until the three other workers are queued on the advisory lock, so the
        # test shows they waited rather than came late. (SQLite's writers queue in BEGIN IMMEDIATE.)
        def others_wait() -> None:
            sql = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            with container.engine.connect() as conn:
                wait_until(lambda: conn.execute(sa.text(sql)).scalar_one() >= 3, interval=0.02)

        server.during_login = others_wait
    start = threading.Barrier(4)
    clients: list[FakeClient] = []
    errors: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            clients.append(sign_in(container, server))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(server.logins) == 1
    assert {(c.device_id, c.access_token) for c in clients} == {tuple(stored(container).values())}


def test_a_stored_session_is_reused_and_replaced_only_when_the_homeserver_forgot_it(container):
    server = FakeHomeserver()
    first = sign_in(container, server)
    again = sign_in(container, server)
    assert server.logins == [first.device_id] and again.access_token == first.access_token

    server.tokens.clear()  # e.g. an admin logged the device out
    replaced = sign_in(container, server)
    assert server.logins == [first.device_id, replaced.device_id]
    assert stored(container) == {"device_id": replaced.device_id, "access_token": replaced.access_token}


def test_a_homeserver_error_at_start_stops_the_worker_instead_of_adding_a_device(container):
    server = FakeHomeserver()
    first = sign_in(container, server)
    server.down = True
    with pytest.raises(RuntimeError, match="502"):
        sign_in(container, server)
    assert server.logins == [first.device_id]
    assert stored(container)["access_token"] == first.access_token


@pytest.mark.postgres
def test_two_workers_storing_the_same_new_key_at_once_do_not_collide(postgres_url):
    """Each worker stores its sync token; two first writes used to fail on `kv_pkey` (UniqueViolation).

    PostgreSQL only: SQLite's BEGIN IMMEDIATE serialises the two transactions before either reads.
    """
    container = make_container(postgres_url)
    key = "matrix.sync.@collide:localhost"
    try:
        waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted"
        with container.desk.uow() as first, container.desk.uow() as second:
            assert first.kv.get(key) is None and second.kv.get(key) is None
            first.kv.set(key, "s1")
            writer = threading.Thread(target=second.kv.set, args=(key, "s2"))
            writer.start()  # waits on the row `first` inserted, until `first` commits
            with container.engine.connect() as conn:
                wait_until(lambda: not writer.is_alive() or conn.execute(sa.text(waiting)).scalar_one() > 0)
            first.commit()
            writer.join(30)
            second.commit()
        with container.desk.uow() as uow:
            assert uow.kv.get(key) == "s2"
    finally:
        with container.desk.uow() as uow:
            uow.kv.delete(key)
            uow.commit()
        container.close()
