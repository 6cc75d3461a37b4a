"""Build the Slack pieces from settings: the Web API client, the bolt App, the outbox channel."""

from __future__ import annotations

from dataclasses import dataclass

from slack_bolt import App
from slack_sdk import WebClient

from adapters.settings import Settings
from adapters.slack.channel import ChannelPacer, SlackStaffChannel
from adapters.slack.listeners import FileFetcher, StaffNames, register
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
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    app = App(
        client=client,
        signing_secret=secret,
        request_verification_enabled=secret is not None,
        process_before_response=False,
    )
    register(app, desk, StaffNames(client), FileFetcher(token, settings.max_file_bytes))
    pacer = ChannelPacer(settings.slack_post_rate, settings.slack_post_burst)

    def targets() -> list[tuple[str, str]]:
        with desk.uow(read_only=True) as uow:
            return [(queue.slug, queue.name) for queue in uow.queues.list()]

    return Slack(app=app, client=client, channel=SlackStaffChannel(client, pacer, targets))
