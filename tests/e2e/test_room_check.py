"""Saving a queue asks the platform whether the bot can post there: the Slack emulator and a real Synapse."""

from __future__ import annotations

import pytest

from adapters.room_check import RoomCheck
from router.errors import InvalidInput
from router.model import Backend
from tests.e2e.conftest import CHANNEL, wait_until

pytestmark = [pytest.mark.e2e]


@pytest.mark.slack
def test_slack_channels_the_bot_is_not_in_or_that_do_not_exist_are_refused(emulator, tmp_path):
    from tests.e2e.test_slack_loop import start_slack_desk

    emulator.add_channel("C0OUTSIDE", "no-bot-here", bot_is_member=False)
    desk, server = start_slack_desk(emulator, tmp_path)
    try:
        check = RoomCheck(desk.container)
        assert check(Backend.SLACK, CHANNEL) is None
        with pytest.raises(InvalidInput, match="the bot is not in #no-bot-here"):
            check(Backend.SLACK, "C0OUTSIDE")
        with pytest.raises(InvalidInput, match="Slack knows no channel C0MISSING"):
            check(Backend.SLACK, "C0MISSING")
        assert "Matrix is not configured" in check(Backend.MATRIX, "!room:localhost")
    finally:
        server.shutdown()
        desk.worker.stop()
        desk.container.close()


@pytest.mark.synapse
def test_matrix_rooms_the_bot_cannot_join_are_refused(desk, homeserver):
    settings = desk.container.settings

    def signed_in() -> bool:
        with desk.container.desk.uow(read_only=True) as uow:
            return bool(uow.kv.get(f"matrix.session.{settings.matrix_user_id}"))

    wait_until(signed_in)  # the worker keeps its Matrix session in the database; the check reuses it
    check = RoomCheck(desk.container)
    assert check(Backend.MATRIX, desk.room_id) is None
    private = homeserver.server.create_room(homeserver.librarian["access_token"], "no bot invited")
    with pytest.raises(InvalidInput, match=f"the bot cannot join {private}"):
        check(Backend.MATRIX, private)
    with pytest.raises(InvalidInput, match="the bot cannot join"):
        check(Backend.MATRIX, "!doesnotexist:localhost")
    assert "Slack is not configured" in check(Backend.SLACK, "C0DESK")
