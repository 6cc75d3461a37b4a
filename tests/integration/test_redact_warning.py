"""A queue whose Matrix room does not let the bot redact is shown on /readyz and on the admin's queue list."""

from __future__ import annotations

from router import health
from tests.integration.test_admin_auth import app, sign_in  # noqa: F401 - `app` is the shared fixture


def test_a_redact_warning_is_on_readyz_and_the_queue_list_without_making_the_desk_unavailable(app):  # noqa: F811
    desk = app.extensions["refdesk"].desk
    with desk.uow() as uow:
        health.record_warning(uow, "general", "the bot cannot redact other people's messages in !general:localhost")
        uow.commit()
    client = app.test_client()
    report = client.get("/readyz").get_json()
    assert report["warnings"] == {"general": "the bot cannot redact other people's messages in !general:localhost"}
    assert report["problems"] == {}
    sign_in(client, "ada")
    assert "the bot cannot redact other people" in client.get("/admin/queues").get_data(as_text=True)
    assert client.get("/api/v1/queues/general/status").get_json().get("reason") != "unavailable"

    with desk.uow() as uow:
        health.clear_warning(uow, "general")
        uow.commit()
    assert client.get("/readyz").get_json()["warnings"] == {}
