"""Can the bot post where a queue points? Asked when an admin saves a queue, so a wrong room or
channel id (or a bot nobody invited) shows at once instead of at the first patron's chat.

A definite "no" from the platform raises `InvalidInput` (nothing is saved); when the platform
cannot be asked (not configured here, unreachable, the worker has not signed in yet), the save
goes ahead with a warning, and the delivery health check reports any problem later.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from slack_sdk.errors import SlackApiError

from router.errors import InvalidInput
from router.model import Backend

log = logging.getLogger(__name__)


class RoomCheck:
    def __init__(self, container: Any, timeout: float = 10.0):
        self.container, self.timeout = container, timeout

    def __call__(self, backend: Backend, room: str) -> str | None:
        """None when the bot can post in `room`; a warning when that could not be checked."""
        return self._slack(room) if backend is Backend.SLACK else self._matrix(room)

    def _slack(self, channel: str) -> str | None:
        slack = self.container.slack
        if slack is None:
            return "Slack is not configured on this server (REFDESK_SLACK_BOT_TOKEN), so the channel was not checked."
        try:
            info = slack.client.conversations_info(channel=channel)["channel"]
        except SlackApiError as exc:
            error = exc.response.get("error", "error")
            if error in ("channel_not_found", "invalid_channel"):
                raise InvalidInput(
                    f"Slack knows no channel {channel} that the bot can see (copy the channel id)"
                ) from None
            return f"Slack did not answer the check ({error}); the channel was not checked."
        except OSError as exc:
            return f"Slack could not be reached ({exc}); the channel was not checked."
        if info.get("is_archived"):
            raise InvalidInput(f"#{info.get('name', channel)} is archived: nobody can post there")
        if not info.get("is_member"):
            raise InvalidInput(f"the bot is not in #{info.get('name', channel)}: invite it there first (/invite @bot)")
        return None

    def _matrix(self, room: str) -> str | None:
        settings = self.container.settings
        if not settings.matrix_homeserver or not settings.matrix_user_id:
            return "Matrix is not configured on this server, so the room was not checked."
        token = settings.matrix_access_token.get_secret_value() if settings.matrix_access_token else None
        if token is None:
            with self.container.desk.uow(read_only=True) as uow:
                stored = json.loads(uow.kv.get(f"matrix.session.{settings.matrix_user_id}") or "null")
            token = (stored or {}).get("access_token")
        if not token:
            return "The worker has not signed in to Matrix yet, so the room was not checked."
        # Joining is what the worker does for every queue room anyway; it is idempotent for a member.
        url = f"{settings.matrix_homeserver.rstrip('/')}/_matrix/client/v3/join/{urllib.parse.quote(room, safe='')}"
        request = urllib.request.Request(url, data=b"{}", method="POST", headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout):
                return None
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read() or b"{}")
            except ValueError:
                body = {}
            if exc.code in (403, 404):
                reason = body.get("error") or exc.reason
                raise InvalidInput(f"the bot cannot join {room}: {reason} (invite the bot to the room first)") from None
            return f"the homeserver did not answer the check ({exc.code}); the room was not checked."
        except OSError as exc:
            return f"the homeserver could not be reached ({exc}); the room was not checked."
