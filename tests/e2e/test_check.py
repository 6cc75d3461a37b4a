"""`refdesk check` against a real Synapse, the Slack emulator and real SMTP servers (aiosmtpd)."""

from __future__ import annotations

import pytest

from adapters.cli import main
from adapters.storage.migrate import head_revision, upgrade
from router.model import Backend, Queue
from tests.conftest import make_container
from tests.e2e.conftest import BOT, BOT_PASSWORD, CHANNEL, free_port, staff_room

pytestmark = [pytest.mark.e2e, pytest.mark.synapse]


class RefusingMailServer:
    """An SMTP server that will not take mail from our sender (a relay that does not know us)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        class Handler:
            async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: N802 - aiosmtpd's hook
                return "550 5.7.1 relaying denied for this sender"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())
        self.controller.start()
        self.port = self.controller.port


@pytest.fixture
def refusing_mail_server():
    server = RefusingMailServer()
    yield server
    server.controller.stop()


def configure(monkeypatch, tmp_path, queues: list[Queue], **env: str) -> None:
    url = f"sqlite:///{tmp_path / 'refdesk.db'}"
    container = make_container(url)
    with container.desk.uow() as uow:
        for queue in queues:
            uow.queues.add(queue)
        uow.commit()
    container.close()
    monkeypatch.setenv("REFDESK_DATABASE_URL", url)
    for name, value in env.items():
        monkeypatch.setenv(f"REFDESK_{name}", value)


def check(capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ended:
        main(["check", "--timeout", "5"])
    return ended.value.code, capsys.readouterr().out


def bot_devices(homeserver) -> int:
    return len(homeserver.server._request("GET", "/_matrix/client/v3/devices", token=homeserver.bot_token)["devices"])


def test_a_working_configuration_passes_and_leaves_no_device_behind(
    homeserver, emulator, mailbox, monkeypatch, tmp_path, capsys
):
    room = staff_room(homeserver, "check-good")
    queues = [Queue("desk", "Desk", Backend.MATRIX, room), Queue("kids", "Kids", Backend.SLACK, CHANNEL)]
    configure(
        monkeypatch,
        tmp_path,
        queues,
        MATRIX_HOMESERVER=homeserver.server.base_url,
        MATRIX_USER_ID=homeserver.bot_user_id,
        MATRIX_PASSWORD=BOT_PASSWORD,
        SLACK_BOT_TOKEN=emulator.bot_token,
        SLACK_SIGNING_SECRET=emulator.signing_secret,
        SLACK_API_URL=emulator.api_url,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(mailbox.port),
    )
    devices, mails = bot_devices(homeserver), len(mailbox.messages)
    code, out = check(capsys)
    assert code == 0, out
    assert "FAIL" not in out and out.strip().endswith("all good")
    assert "queue desk: the bot is in" in out and "queue kids: the bot is in #reference-desk" in out
    assert "accepts mail from" in out
    assert bot_devices(homeserver) == devices  # its password login was logged out again
    assert len(mailbox.messages) == mails  # it offered the sender, then sent nothing


def test_every_problem_is_named_in_plain_words(
    homeserver, emulator, refusing_mail_server, monkeypatch, tmp_path, capsys
):
    not_joined = homeserver.server.create_room(homeserver.librarian["access_token"], "check-no-bot")
    encrypted = staff_room(homeserver, "check-encrypted")
    homeserver.server._request(
        "PUT",
        f"/_matrix/client/v3/rooms/{encrypted}/state/m.room.encryption",
        {"algorithm": "m.megolm.v1.aes-sha2"},
        homeserver.bot_token,
    )
    emulator.add_channel("C0ELSE", "elsewhere", bot_is_member=False)
    queues = [
        Queue("lonely", "Lonely", Backend.MATRIX, not_joined),
        Queue("secret", "Secret", Backend.MATRIX, encrypted),
        Queue("elsewhere", "Elsewhere", Backend.SLACK, "C0ELSE"),
        Queue("kids", "Kids", Backend.SLACK, CHANNEL),
    ]
    configure(
        monkeypatch,
        tmp_path,
        queues,
        MATRIX_HOMESERVER=homeserver.server.base_url,
        MATRIX_USER_ID=homeserver.bot_user_id,
        MATRIX_ACCESS_TOKEN=homeserver.bot_token,
        SLACK_BOT_TOKEN=emulator.bot_token,
        SLACK_SIGNING_SECRET=emulator.signing_secret,
        SLACK_API_URL=emulator.api_url,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(refusing_mail_server.port),
        SMTP_FROM="desk@library.example",
    )
    code, out = check(capsys)
    assert code == 1
    assert f"FAIL  queue lonely: the bot has not joined {not_joined}" in out
    assert f"ok    queue secret: the bot is in {encrypted}, which is end-to-end encrypted" in out
    assert "FAIL  queue elsewhere: the bot is not in #elsewhere: invite it there" in out
    assert "ok    queue kids: the bot is in #reference-desk" in out
    assert "FAIL  mail: the mail server 127.0.0.1" in out and "refuses mail from desk@library.example" in out
    assert "3 problem(s) to fix" in out


def test_revoked_tokens_and_an_unreachable_mail_server(homeserver, emulator, monkeypatch, tmp_path, capsys):
    revoked = homeserver.server.login(BOT, BOT_PASSWORD)["access_token"]
    homeserver.server._request("POST", "/_matrix/client/v3/logout", {}, revoked)
    configure(
        monkeypatch,
        tmp_path,
        [Queue("desk", "Desk", Backend.MATRIX, staff_room(homeserver, "check-revoked"))],
        MATRIX_HOMESERVER=homeserver.server.base_url,
        MATRIX_USER_ID=homeserver.bot_user_id,
        MATRIX_ACCESS_TOKEN=revoked,
        SLACK_BOT_TOKEN="xoxb-revoked",
        SLACK_SIGNING_SECRET=emulator.signing_secret,
        SLACK_API_URL=emulator.api_url,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(free_port()),  # nothing listens there
    )
    code, out = check(capsys)
    assert code == 1
    assert "FAIL  matrix: the bot's access token was revoked or is wrong (M_UNKNOWN_TOKEN)" in out
    assert "FAIL  slack: the Slack bot token is not valid" in out
    assert "FAIL  mail: the mail server 127.0.0.1" in out and "refused the connection" in out
    assert revoked not in out and "xoxb-revoked" not in out


def test_migrations_behind_and_a_queue_on_an_unconfigured_platform(monkeypatch, tmp_path, capsys):
    behind = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(behind, "0011")
    monkeypatch.setenv("REFDESK_DATABASE_URL", behind)
    code, out = check(capsys)
    needed = f"this release needs {head_revision()}: run `refdesk db upgrade`"
    assert code == 1 and f"FAIL  database: is at migration 0011, {needed}" in out

    configure(monkeypatch, tmp_path, [Queue("kids", "Kids", Backend.SLACK, CHANNEL)])
    code, out = check(capsys)
    assert code == 1 and "FAIL  queue kids: uses Slack, which is not configured here (REFDESK_SLACK_BOT_TOKEN)" in out
