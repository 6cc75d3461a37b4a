"""What every inbound Slack request meets besides refdesk's own listeners, in HTTP and Socket Mode alike.

- A replayed slash command or interaction (the same signed request posted again, or a Socket Mode
  envelope redelivered) is acknowledged and does nothing: `/refdesk on` replayed after `/refdesk off`
  must not put someone back on duty. Events are deduplicated per event inside the use cases instead.
- A request no listener handles (an event type, action, command, view or options request refdesk
  has no use for) is acknowledged with 200. Bolt would answer 404, which Slack counts as a failure
  and retries; in Socket Mode bolt would not acknowledge the envelope at all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.response import BoltResponse

from router.journal import Desk

log = logging.getLogger(__name__)

REPLAY_SOURCE = "slack:request"  # its own namespace in the inbound log, beside events ("slack")
ANYTHING = re.compile(r"")  # bolt matches patterns with re.search: the empty pattern matches every id


def replay_key(body: dict[str, Any]) -> str | None:
    """What identifies one command or interaction: Slack's `trigger_id`, new for every invocation and click.

    None for events (they carry event ids, handled per event) and for requests without one."""
    if body.get("type") == "event_callback":
        return None
    trigger = body.get("trigger_id")
    return str(trigger)[:255] if trigger else None


def first_delivery(desk: Desk, key: str) -> bool:
    """Record the request; False when it was seen before.

    Recorded before the listener runs (at most once): Slack does not retry commands or clicks over
    HTTP, so a click lost to a crash right here is simply clicked again."""
    with desk.uow() as uow:
        fresh = uow.inbound.first_time(REPLAY_SOURCE, key, desk.clock.now())
        uow.commit()
    return fresh


def skip_replays(desk: Desk) -> Callable[..., BoltResponse | None]:
    def middleware(body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:  # noqa: A002 - bolt's name
        key = replay_key(body)
        if key is None or first_delivery(desk, key):
            return next()
        log.info("slack: ignored a replayed %s", body.get("command") or body.get("type") or "request")
        return BoltResponse(status=200, body="")

    return middleware


def acknowledge_the_rest(app: App) -> None:
    """Register last: catch-all listeners that acknowledge whatever no earlier listener matched."""

    def ignore(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        log.debug("slack: acknowledged an unhandled %s", body.get("type") or body.get("command") or "request")

    app.event(ANYTHING)(ignore)
    app.command(ANYTHING)(ignore)
    app.action(ANYTHING)(ignore)
    app.view(ANYTHING)(ignore)
    app.view({"type": "view_closed", "callback_id": ANYTHING})(ignore)
    app.options(ANYTHING)(ignore)
    app.shortcut(ANYTHING)(ignore)


def guard(app: App, desk: Desk) -> None:
    """Install both guards; call after every refdesk listener is registered."""
    app.use(skip_replays(desk))
    acknowledge_the_rest(app)
