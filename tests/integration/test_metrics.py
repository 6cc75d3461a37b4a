"""/metrics: off unless a token is set, only with that token, and never a patron in a label."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from adapters.metrics import MATRIX_SYNCED_AT
from router import delivery
from router.errors import DeliveryError
from router.model import Backend
from web import create_app

TOKEN = "metrics-token-for-tests-0123456789"
ROOT = Path(__file__).resolve().parents[2]
PATRON = {
    "queue": "general",
    "name": "Ada Lovelace",
    "email": "ada.lovelace@example.org",
    "page_url": "https://library.example/search?q=analytical+engine",
}
SAID = "My card is 21234000012345, can you renew Sketch of the Analytical Engine?"


class FlakyChannel:
    """A staff side that is rate limited once, then takes everything."""

    def __init__(self) -> None:
        self.limited = False

    def open_thread(self, queue, conversation, key, maybe_sent=False):  # noqa: ANN001 - the StaffChannel port
        if not self.limited:
            self.limited = True
            raise DeliveryError("slow down", retry_after=0.01)
        return "$root"

    def post_patron_message(self, queue, conversation, message, key, maybe_sent=False, files=None):  # noqa: ANN001
        return f"$event-{message.id}"


def app_with(container, token: str | None):
    container.settings = container.settings.model_copy(update={"metrics_token": SecretStr(token) if token else None})
    app = create_app(container)
    app.testing = True
    return app


def scrape(client) -> dict[str, list]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    families = text_string_to_metric_families(response.get_data(as_text=True))
    return {family.name: family.samples for family in families}


def count(samples: dict[str, list], name: str, **labels: str) -> float:
    """The sum of the matching samples; 0 before a counter has any (this process's counters outlive a test)."""
    matching = samples.get(name.removesuffix("_total"), [])
    return sum(s.value for s in matching if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def value(samples: dict[str, list], name: str, **labels: str) -> float:
    family = samples[name.removesuffix("_total")]
    found = [s.value for s in family if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert found, (name, labels)
    return sum(found)


def test_metrics_is_not_served_without_a_token_setting(container):
    client = app_with(container, None).test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


def test_metrics_answers_only_the_configured_bearer_token(container):
    client = app_with(container, TOKEN).test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token"}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_a_chat_with_a_named_patron_is_counted_without_any_patron_data_in_a_label(container):
    client = app_with(container, TOKEN).test_client()
    before = scrape(client)
    chat = client.post("/api/v1/conversations", json=PATRON).json
    auth = {"Authorization": f"Bearer {chat['token']}"}
    said = client.post(f"/api/v1/conversations/{chat['id']}/messages", json={"body": SAID}, headers=auth)
    assert said.status_code == 201
    stream = client.get(f"/api/v1/conversations/{chat['id']}/events", headers=auth, buffered=False)
    next(stream.response)  # the stream is open once its first bytes went out
    while_streaming = scrape(client)
    stream.close()

    channel = FlakyChannel()
    while delivery.deliver_one(container.desk, {Backend.MATRIX: channel}):
        with container.desk.uow() as uow:  # the rate-limited item is due again at once (skip its backoff)
            for item in uow.outbox.for_conversation(chat["id"]):
                item.next_attempt_at = container.desk.clock.now()
                uow.outbox.save(item)
            uow.commit()
    with container.desk.uow() as uow:
        uow.kv.set(
            MATRIX_SYNCED_AT + "@refdesk:localhost", (container.desk.clock.now() - timedelta(minutes=5)).isoformat()
        )
        uow.commit()
    after = scrape(client)

    assert value(while_streaming, "refdesk_open_streams") == value(before, "refdesk_open_streams") + 1
    assert value(after, "refdesk_open_streams") == value(before, "refdesk_open_streams")
    assert value(while_streaming, "refdesk_conversations", queue="general", status="waiting") == 1
    assert value(while_streaming, "refdesk_outbox_pending", backend="matrix", lane="staff") == 2
    assert value(while_streaming, "refdesk_outbox_oldest_pending_age_seconds", backend="matrix", lane="staff") >= 0
    assert value(after, "refdesk_outbox_pending", backend="matrix", lane="staff") == 0
    attempts = "refdesk_outbox_delivery_attempts_total"
    failures = "refdesk_outbox_delivery_failures_total"
    assert count(after, attempts, backend="matrix", lane="staff") - count(before, attempts, backend="matrix") == 3
    assert count(after, failures, error="rate_limited") - count(before, failures, error="rate_limited") == 1
    assert value(after, "refdesk_matrix_sync_lag_seconds", bot="@refdesk:localhost") >= 300
    latency = "refdesk_http_request_duration_seconds"
    endpoints = {s.labels["endpoint"] for s in after[latency] if s.name == latency + "_count"}
    assert {"api.post_message", "stream.events", "metrics"} <= endpoints

    patron_data = [chat["id"], chat["token"], *PATRON.values(), "Ada", "Lovelace", "example.org", "21234000012345"]
    patron_data.remove("general")  # the queue's slug is the operator's, not the patron's
    for samples in after.values():
        for sample in samples:
            for label in sample.labels.values():
                assert not any(secret in label for secret in patron_data), (sample.name, label)
                assert "/" not in label or sample.name.startswith("refdesk_http"), (sample.name, label)


def test_what_the_worker_counts_reaches_a_scrape_of_the_web_process(tmp_path):
    """Under gunicorn and with a separate worker, every process writes to PROMETHEUS_MULTIPROC_DIR."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared), "PYTHONPATH": str(ROOT)}
    worker = (
        "from adapters.metrics import DeliveryCounter, slack_rate_limited\n"
        "DeliveryCounter().delivery_attempted('slack', 'staff', 'rate_limited')\n"
        "slack_rate_limited('chat_postMessage')\n"
    )
    subprocess.run([sys.executable, "-c", worker], env=environment, check=True, timeout=60)
    database = f"sqlite:///{tmp_path / 'web.db'}"
    web = (
        "from adapters.metrics import exposition\n"
        "from adapters.clock import SystemClock\n"
        "from adapters.storage.sql import make_engine\n"
        "from adapters.storage.migrate import upgrade\n"
        f"upgrade({database!r})\n"
        f"print(exposition(make_engine({database!r}), SystemClock()).decode())\n"
    )
    scraped = subprocess.run(
        [sys.executable, "-c", web], env=environment, check=True, timeout=60, capture_output=True, text=True
    ).stdout
    samples = {family.name: family.samples for family in text_string_to_metric_families(scraped)}
    assert value(samples, "refdesk_outbox_delivery_failures_total", backend="slack", error="rate_limited") == 1
    assert value(samples, "refdesk_slack_rate_limited_total", method="chat_postMessage") == 1


@pytest.mark.parametrize("header", ["", "Bearer", f"bearer  {TOKEN}x", "Bearer \x00"])
def test_malformed_authorisation_headers_get_the_same_404(container, header):
    client = app_with(container, TOKEN).test_client()
    assert client.get("/metrics", headers={"Authorization": header}).status_code == 404


def test_a_slack_429_is_counted_by_api_method_and_the_item_is_retried_later():
    from slack_sdk import WebClient

    from adapters.slack.channel import SlackStaffChannel
    from tests.slack_emulator import SlackEmulator

    def counted() -> float:
        return REGISTRY.get_sample_value("refdesk_slack_rate_limited_total", {"method": "chat_postMessage"}) or 0.0

    before = counted()
    with SlackEmulator(post_rate_per_second=0.01, post_burst=1) as slack:
        slack.add_channel("C0DESK", "reference-desk")
        channel = SlackStaffChannel(WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5))
        channel._call("chat_postMessage", "C0DESK", channel="C0DESK", text="first")
        with pytest.raises(DeliveryError) as limited:
            channel._call("chat_postMessage", "C0DESK", channel="C0DESK", text="second")
    assert limited.value.retry_after is not None and delivery.failure_kind(limited.value) == "rate_limited"
    assert counted() == before + 1
