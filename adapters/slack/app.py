"""Build the Slack pieces from settings: the Web API client, the bolt App, the outbox channel."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from slack_bolt import App
from slack_sdk import WebClient

from adapters.settings import Settings
from adapters.slack.channel import SlackStaffChannel
from adapters.slack.files import FileFetcher, allowed_origins
from adapters.slack.guards import guard
from adapters.slack.listeners import StaffNames, register
from adapters.slack.pacing import ChannelPacer, make_slots
from router.journal import Desk


@dataclass
class Slack:
    app: App
    client: WebClient
    channel: SlackStaffChannel


def build_slack(settings: Settings, desk: Desk) -> Slack | None:
    """None when Slack is not configured; otherwise one App used by web (HTTP) and worker (Socket Mode)."""
    if not settings.slack_bot_token:
        return None
    token = settings.slack_bot_token.get_secret_value()
    # No automatic retries: a re-sent chat.postMessage after a dropped connection would post twice.
    # The outbox retries instead, and looks for its key in the thread first.
    client = WebClient(token=token, base_url=settings.slack_api_url or WebClient.BASE_URL, retry_handlers=[])
    app = App(
        client=client,
        signing_secret=_signing_secret(settings),
        request_verification_enabled=True,  # never off: Socket Mode envelopes skip it by themselves
        process_before_response=False,
    )
    files = FileFetcher(token, settings.max_file_bytes, allowed_origins(settings.slack_api_url))
    register(app, desk, StaffNames(client), files)
    guard(app, desk)
    slots = make_slots(settings.rate_limit_storage, settings.rate_limit_prefix)  # shared by every worker with Redis
    # A post waits for its slot, and after a 429 for one more, while its outbox item is leased: a third of the
    # lease each keeps both inside it (8 outbox threads at 1/s wait up to 8 s; 20 s lets more line up).
    max_wait = settings.outbox_lease_seconds / 3
    pacer = ChannelPacer(settings.slack_post_rate, settings.slack_post_burst, max_wait=max_wait, slots=slots)

    def targets() -> list[tuple[str, str]]:
        with desk.uow(read_only=True) as uow:
            return [(queue.slug, queue.name) for queue in uow.queues.list()]

    return Slack(app=app, client=client, channel=SlackStaffChannel(client, pacer, targets))


def _signing_secret(settings: Settings) -> str:
    """The app's signing secret; without one (Socket Mode only), a random key nobody holds.

    Passed explicitly so bolt never falls back to a SLACK_SIGNING_SECRET variable, and so a request
    that reached the app over HTTP anyway could only fail verification."""
    if settings.slack_signing_secret:
        return settings.slack_signing_secret.get_secret_value()
    return secrets.token_urlsafe(32)
