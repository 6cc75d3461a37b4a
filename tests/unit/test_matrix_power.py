"""Can the bot redact others' events? From a room's state: power levels, and creators in room version 12."""

import pytest

from adapters.matrix.power import redact_shortfall

BOT = "@refdesk:x"


def state(version="10", creator="@ann:x", users=None, **levels):
    create = {"type": "m.room.create", "state_key": "", "sender": creator, "content": {"room_version": version}}
    power = {"type": "m.room.power_levels", "state_key": "", "content": {"users": users or {}, **levels}}
    return [create, power]


@pytest.mark.parametrize(
    ("room", "expected"),
    [
        (state(users={BOT: 50}), None),  # a moderator
        (state(users={BOT: 100}), None),
        (state(), (0, 50)),  # invited into someone else's room: users_default 0, redact 50 by default
        (state(users={BOT: 50}, redact=75), (50, 75)),  # the room asks more than a moderator
        (state(users_default=50), None),
        (state(users={BOT: "50"}, redact="50"), None),  # old rooms carry levels as strings
        (state(version="12", creator=BOT), None),  # v12: the creator has unlimited power, not listed in users
        (state(version="10", creator=BOT), (0, 50)),  # before v12 only `users` counts
        (state(version="12"), (0, 50)),
    ],
)
def test_redact_shortfall(room, expected):
    assert redact_shortfall(room, BOT) == expected
