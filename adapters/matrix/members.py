"""Display names of the people in the staff rooms, learnt from the /sync responses' member events.

The sync reads raw JSON rather than nio's parsed rooms (adapters.matrix.sync), so it keeps the
one thing it needs of room state itself: who is called what. With lazily loaded members the
homeserver sends a sender's member event with their first event the bot sees; a name it did not
send (a restart, a back-filled gap) is asked for once (`StaffEvents._display_name`). As nio did,
two members of a room with the same display name are told apart by their user id.
"""

from __future__ import annotations

from typing import Any


def member_events(room: dict[str, Any]) -> list[dict[str, Any]]:
    """A joined room's member events in a /sync response: its state, then its timeline (newest last)."""
    found = []
    for section in ("state", "timeline"):
        for event in (room.get(section) or {}).get("events") or []:
            if isinstance(event, dict) and event.get("type") == "m.room.member" and event.get("state_key"):
                found.append(event)
    return found


class RoomMembers:
    def __init__(self) -> None:
        self._names: dict[str, dict[str, str]] = {}  # room id -> user id -> display name (or the user id)

    def update(self, room_id: str, room: dict[str, Any]) -> None:
        members = self._names.setdefault(room_id, {})
        for event in member_events(room):
            content = event.get("content") or {}
            user_id = event["state_key"]
            if content.get("membership") in ("join", "invite"):
                name = content.get("displayname")
                members[user_id] = name if isinstance(name, str) and name.strip() else user_id
            else:
                members.pop(user_id, None)

    def name(self, room_id: str, user_id: str) -> str | None:
        """The name the room shows for `user_id`; None when no member event for them has come yet."""
        members = self._names.get(room_id, {})
        name = members.get(user_id)
        if name is None:
            return None
        if name != user_id and sum(other == name for other in members.values()) > 1:
            return f"{name} ({user_id})"
        return name
