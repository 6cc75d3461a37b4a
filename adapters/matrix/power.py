"""Can the bot redact other people's events in a room? Read from the room's `m.room.power_levels`.

Retention redacts a whole thread, librarians' replies, edits and reactions included; without the
room's `redact` level the homeserver refuses those and they stay readable. Checked when the bot
joins a queue's room and every few minutes after, so /readyz and the admin show it early.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nio import AsyncClient, RoomGetStateError

from router import health
from router.journal import Desk

log = logging.getLogger(__name__)
RunBlocking = Callable[..., Awaitable[None]]  # adapters.matrix.connection.MatrixConnection.run_blocking
DEFAULT_REDACT = 50  # the spec's default for `redact`, and Element's "Moderator"


def _level(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _creators_are_privileged(room_version: str) -> bool:
    """Room version 12 (and its draft, hydra) gives creators unlimited power; they are not in `users`."""
    return (room_version.isdigit() and int(room_version) >= 12) or "hydra" in room_version


def redact_shortfall(state: list[dict[str, Any]], user_id: str) -> tuple[int, int] | None:
    """(the bot's level, the level needed) when the bot cannot redact others' events, else None.

    `state` is the room's current state events (`GET /rooms/{room}/state`).
    """
    current = {event.get("type"): event for event in state if event.get("state_key") == ""}
    create = current.get("m.room.create") or {}
    creators = {create.get("sender"), *((create.get("content") or {}).get("additional_creators") or [])}
    if _creators_are_privileged(str((create.get("content") or {}).get("room_version", "1"))) and user_id in creators:
        return None
    power_levels = (current.get("m.room.power_levels") or {}).get("content") or {}
    users = power_levels.get("users") or {}
    level = _level(users.get(user_id, power_levels.get("users_default", 0)), 0)
    needed = _level(power_levels.get("redact", DEFAULT_REDACT), DEFAULT_REDACT)
    return (level, needed) if level < needed else None


def shortfall_warning(room_id: str, level: int, needed: int) -> str:
    return (
        f"the bot cannot redact other people's messages in {room_id} (its power level is {level}, redacting needs "
        f"{needed}): deleting or anonymising a chat would leave librarians' replies, edits and reactions readable. "
        "Make the bot a moderator (power level 50) in that room."
    )


async def check_redact_power(
    client: AsyncClient, desk: Desk, user_id: str, room_id: str, slugs: list[str], run_blocking: RunBlocking
) -> None:
    """Record (or clear) a health warning for the room's queues when the bot cannot redact there.

    The warning is written through `run_blocking`: this runs on the loop that also sends and syncs.
    """
    response = await client.room_get_state(room_id)
    if isinstance(response, RoomGetStateError):
        log.warning("matrix: cannot read the power levels of %s: %s", room_id, response.message)
        return
    await run_blocking(record_redact_power, desk, slugs, room_id, redact_shortfall(response.events, user_id))


def record_redact_power(desk: Desk, slugs: list[str], room_id: str, shortfall: tuple[int, int] | None) -> None:
    with desk.uow() as uow:
        for slug in slugs:
            if shortfall:
                health.record_warning(uow, slug, shortfall_warning(room_id, *shortfall))
            else:
                health.clear_warning(uow, slug)
        uow.commit()
