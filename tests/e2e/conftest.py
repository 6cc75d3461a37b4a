"""End-to-end fixtures: one real Synapse per session, a fresh staff room and app per test."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from adapters.bootstrap import Container
from adapters.settings import Settings
from adapters.synapse_local import LocalSynapse, MatrixHTTPError
from adapters.worker import Worker
from router import duty
from router.model import Backend, Queue
from tests.conftest import empty_every_table, migrated
from tests.e2e.csp_watch import CspWatchedBrowser
from tests.e2e.librarian import Librarian
from tests.patience import PATIENCE
from tests.slack_emulator import SlackEmulator
from web import create_app

BOT, BOT_PASSWORD = "refdesk", "bot-password-for-tests"
CHANNEL = "C0DESK"
LIBRARIAN, LIBRARIAN_PASSWORD = "ann", "ann-password-for-tests"


@dataclass
class Homeserver:
    server: LocalSynapse
    bot_user_id: str
    bot_token: str
    librarian: dict
    colleague: dict


@pytest.fixture(scope="session")
def homeserver(tmp_path_factory) -> Iterator[Homeserver]:
    server = LocalSynapse(tmp_path_factory.mktemp("synapse"))
    server.start()
    bot = server.register(BOT, BOT_PASSWORD, admin=True, displayname="refdesk")
    librarian = server.register(LIBRARIAN, LIBRARIAN_PASSWORD, displayname="Ann Librarian")
    colleague = server.register("bo", "bo-password-for-tests", displayname="Bo Colleague")
    yield Homeserver(server, bot["user_id"], bot["access_token"], librarian, colleague)
    server.stop()


@dataclass
class Desk:
    """A running refdesk (web + worker in this process) wired to a fresh staff room."""

    container: Container
    base_url: str
    room_id: str
    librarian: Librarian
    worker: Worker | None

    def api(self, path: str) -> str:
        return f"{self.base_url}/api/v1{path}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_ROOMS_OF_THIS_TEST: list[tuple[Homeserver, str]] = []


def staff_room(homeserver: Homeserver, name: str) -> str:
    staff = (homeserver.librarian, homeserver.colleague)
    room_id = homeserver.server.create_room(homeserver.bot_token, name, invite=[person["user_id"] for person in staff])
    for person in staff:
        homeserver.server.join(person["access_token"], room_id)
    _ROOMS_OF_THIS_TEST.append((homeserver, room_id))
    return room_id


@pytest.fixture(autouse=True)
def bot_leaves_the_tests_rooms() -> Iterator[None]:
    """After each test (its desks stopped: this fixture is set up first, so torn down last), the bot leaves the
    staff rooms the test made. Every desk's worker starts with a full sync of the bot's rooms, and the bot made
    them all: tens of rooms late in a session made each start about 0.7 s slower (Synapse and nio parsing them)."""
    yield
    while _ROOMS_OF_THIS_TEST:
        homeserver, room_id = _ROOMS_OF_THIS_TEST.pop()
        with contextlib.suppress(OSError, MatrixHTTPError):  # e.g. Synapse left stopped: later starts are slower
            homeserver.server.leave(homeserver.bot_token, room_id)


def desk_settings(homeserver: Homeserver, database_url: str, **extra: object) -> Settings:
    values: dict[str, object] = dict(
        database_url=database_url,
        matrix_homeserver=homeserver.server.base_url,
        matrix_user_id=homeserver.bot_user_id,
        matrix_password=BOT_PASSWORD,
        outbox_poll_seconds=0.2,
        stream_heartbeat_seconds=2,
    )
    values.update(extra)
    return Settings(**values)


def serve(container: Container, config: dict | None = None) -> tuple[str, object]:
    port = free_port()
    server = make_server("127.0.0.1", port, create_app(container, config), threaded=True)
    # Polled every 50 ms (werkzeug's default is 0.5 s): `shutdown()` waits for the next poll, once per desk.
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return f"http://127.0.0.1:{port}", server


@pytest.fixture
def librarian(homeserver) -> Iterator[Librarian]:
    person = Librarian(
        homeserver.server.base_url,
        homeserver.librarian["user_id"],
        homeserver.librarian["access_token"],
        homeserver.librarian["device_id"],
    )
    yield person
    person.close()


class Mailbox:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list = []
        mailbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
                import email

                mailbox.messages.append(email.message_from_bytes(envelope.content))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())
        self.controller.start()
        self.port = self.controller.port


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    yield box
    box.controller.stop()


def _start_desk(
    homeserver,
    librarian,
    tmp_path,
    name,
    with_worker=True,
    mailbox=None,
    config=None,
    settings=None,
    database_url=None,
) -> tuple[Desk, object]:
    """A desk on SQLite, or on `database_url` (the session's PostgreSQL schema, emptied first)."""
    room_id = staff_room(homeserver, name)
    smtp = dict(smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_from="desk@library.example") if mailbox else {}
    url = database_url or f"sqlite:///{tmp_path / 'desk.db'}"
    container = migrated(desk_settings(homeserver, url, **smtp, **(settings or {})))
    if database_url:
        empty_every_table(container)
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, room_id))
        uow.commit()
    librarian_id = homeserver.librarian["user_id"]
    duty.go_on(container.desk, ["general"], librarian_id, "Ann Librarian")  # tests of !on/!off do it for real
    base_url, server = serve(container, config)
    worker = None
    if with_worker:
        worker = Worker(container)
        worker.start()
    librarian.skip_to_now()  # the librarian sees only what happens from here on
    return Desk(container, base_url, room_id, librarian, worker), server


@contextmanager
def running_desk(homeserver, librarian, tmp_path, request, mailbox, **options: object) -> Iterator[Desk]:
    """`_start_desk` for the length of the block, then its server, worker and database closed."""
    running, server = _start_desk(homeserver, librarian, tmp_path, request.node.name, mailbox=mailbox, **options)
    try:
        yield running
    finally:
        server.shutdown()
        if running.worker:
            running.worker.stop()
        running.container.close()


@pytest.fixture
def desk(homeserver, librarian, tmp_path, request, mailbox) -> Iterator[Desk]:
    with running_desk(homeserver, librarian, tmp_path, request, mailbox) as running:
        yield running


@pytest.fixture
def desk_without_worker(homeserver, librarian, tmp_path, request) -> Iterator[Desk]:
    """The web side only: tests start and kill worker processes themselves (bursts: no rate limits)."""
    running, server = _start_desk(
        homeserver, librarian, tmp_path, request.node.name, with_worker=False, config={"RATELIMIT_ENABLED": False}
    )
    yield running
    server.shutdown()
    running.container.close()


def stop_processes(processes: list[subprocess.Popen]) -> None:
    """SIGTERM every process, then wait for each (15 s; then SIGKILL): a test's workers and web processes."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def worker_process(homeserver: Homeserver, database_url: str, log: Path | None = None, **env: str) -> subprocess.Popen:
    """`refdesk worker` as a separate OS process, as in production (its log in `log` when given)."""
    variables = dict(os.environ)
    variables.update(
        REFDESK_DATABASE_URL=database_url,
        REFDESK_MATRIX_HOMESERVER=homeserver.server.base_url,
        REFDESK_MATRIX_USER_ID=homeserver.bot_user_id,
        REFDESK_MATRIX_PASSWORD=BOT_PASSWORD,
        REFDESK_OUTBOX_POLL_SECONDS="0.2",
    )
    variables.update(env)
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "adapters.cli", "worker"]
    if log is None:
        return subprocess.Popen(command, env=variables, cwd=root)
    with log.open("ab") as stderr:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, env=variables, cwd=root, stderr=stderr)


@contextmanager
def mixed_desk(
    homeserver: Homeserver, emulator: SlackEmulator, librarian: Librarian, database: Path, queues: list[Queue], **extra
) -> Iterator[tuple[Container, str]]:
    """One refdesk (web + worker in this process) serving Slack (the emulator) and Matrix queues at once."""
    settings = desk_settings(
        homeserver,
        f"sqlite:///{database}",
        slack_bot_token=emulator.bot_token,
        slack_signing_secret=emulator.signing_secret,
        slack_api_url=emulator.api_url,
        **extra,
    )
    container = migrated(settings)
    with container.desk.uow() as uow:
        for queue in queues:
            uow.queues.add(queue)
        uow.commit()
    base_url, server = serve(container)
    emulator.events_url = f"{base_url}/slack/events"
    worker = Worker(container)
    worker.start()
    librarian.skip_to_now()  # the librarian sees only what happens from here on
    try:
        yield container, base_url
    finally:
        server.shutdown()
        worker.stop()
        container.close()


def outbox_pending(desk: Desk) -> int:
    """Items the worker has not delivered yet: tests wait for 0 before changing what a delivery would undo."""
    with desk.container.desk.uow(read_only=True) as uow:
        return uow.outbox.pending_count()


def wait_until(predicate, timeout: float = PATIENCE, interval: float = 0.1, page=None):
    """Poll `predicate`. With `page`, wait in the browser instead of sleeping: Playwright's sync API hands over
    events (console messages, frames attached) only while a Playwright call runs, so a condition on what those
    events collect would never become true during a plain `time.sleep`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if page is not None:
            page.wait_for_timeout(interval * 1000)
        else:
            time.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    slack = SlackEmulator()
    slack.start()
    slack.add_user("U0ANN", name="ann", real_name="Ann Reference", display_name="Ann (Reference)")
    slack.add_user("U0BO", name="bo", real_name="Bo Colleague", display_name="")
    slack.add_channel(CHANNEL, "reference-desk")
    yield slack
    slack.stop()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # "Show my screen" (tests/e2e/test_screen.py): getDisplayMedia picks a generated screen, without a prompt.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it with apt-get")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=PATIENCE * 1000)  # assertions wait for their condition as long as everything else
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield instance
        instance.close()


@pytest.fixture
def browser(chromium, request) -> Iterator[CspWatchedBrowser]:
    """The session's Chromium, watched: a Content-Security-Policy violation on any page fails the test
    (a test that provokes one on purpose says so with `@pytest.mark.csp_refusal_expected`)."""
    watched = CspWatchedBrowser(chromium)
    yield watched
    if request.node.get_closest_marker("csp_refusal_expected") is None:
        assert watched.violations == [], f"Content-Security-Policy violations: {watched.violations}"
