"""The desk watched from outside while it runs: /metrics and /readyz over HTTP, a real Synapse behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Desk, _start_desk, wait_until
from tests.e2e.librarian import in_thread, roots
from tests.e2e.patron import say, start_chat

pytestmark = [pytest.mark.e2e, pytest.mark.synapse]

TOKEN = "e2e-metrics-token-0123456789abcdef"
PATRON = {"name": "Ada Lovelace", "email": "ada.lovelace@example.org", "page_url": "https://library.example/engine"}


@pytest.fixture
def watched(homeserver, librarian, tmp_path, request) -> Iterator[Desk]:
    running, server = _start_desk(homeserver, librarian, tmp_path, request.node.name, settings={"metrics_token": TOKEN})
    yield running
    server.shutdown()
    running.worker.stop()
    running.container.close()


def scrape(desk: Desk) -> dict[str, dict[tuple, float]]:
    response = requests.get(f"{desk.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_a_running_desk_reports_its_matrix_sync_and_deliveries_without_patron_data(watched):
    chat = start_chat(watched, "general", **PATRON)
    say(watched, chat, "Is the Analytical Engine manual on the shelf?")
    root = watched.librarian.wait_for(lambda events: [e for e in roots(events) if "/engine" in e["content"]["body"]])[0]
    watched.librarian.wait_for(lambda events: in_thread(events, root["event_id"]))
    bot = watched.container.settings.matrix_user_id

    def delivered_and_synced() -> dict | None:
        found = scrape(watched)
        pending = found["refdesk_outbox_pending"][(("backend", "matrix"), ("lane", "staff"))]
        return found if pending == 0 and (("bot", bot),) in found.get("refdesk_matrix_sync_lag_seconds", {}) else None

    found = wait_until(delivered_and_synced)
    assert found["refdesk_conversations"][(("queue", "general"), ("status", "waiting"))] == 1
    assert found["refdesk_outbox_delivery_attempts_total"][(("backend", "matrix"), ("lane", "staff"))] >= 2
    assert found["refdesk_matrix_sync_lag_seconds"][(("bot", bot),)] >= 0
    labels = [value for samples in found.values() for key in samples for _name, value in key]
    for patron_data in (chat["id"], chat["token"], *PATRON.values(), "Lovelace"):
        assert not any(patron_data in label for label in labels), patron_data

    ready = requests.get(f"{watched.base_url}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["backends"] == {"matrix": {"state": "ok", "problems": {}}}
