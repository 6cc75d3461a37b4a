"""Hours page: closures and away messages can be taken back by an admin, not by a viewer."""

from __future__ import annotations

from tests.integration.test_admin_auth import app, csrf, sign_in  # noqa: F401 - `app` is the shared fixture


def post(client, path, **fields):
    return client.post(path, data={"csrf_token": csrf(client, "/admin/hours?queue=general"), **fields})


def closures(app):  # noqa: F811
    with app.extensions["refdesk"].desk.uow(read_only=True) as uow:
        return [c[:2] for c in (uow.queues.get("general").hours or {}).get("closures", [])]


def test_an_admin_removes_a_closure_and_an_away_message(app):  # noqa: F811
    client = app.test_client()
    sign_in(client, "ada")
    post(client, "/admin/hours/closure?queue=general", first="2026-12-24", last="2026-12-26", reason="Winter")
    assert closures(app) == [["2026-12-24", "2026-12-26"]]
    page = client.get("/admin/hours?queue=general").get_data(as_text=True)
    assert "Remove the closure from 2026-12-24 to 2026-12-26" in page
    missing = post(client, "/admin/hours/closure/remove?queue=general", first="2026-12-24", last="2026-12-25")
    assert missing.status_code == 422 and closures(app) == [["2026-12-24", "2026-12-26"]]
    assert (
        post(client, "/admin/hours/closure/remove?queue=general", first="2026-12-24", last="2026-12-26").status_code
        == 302
    )
    assert closures(app) == []

    post(client, "/admin/away?queue=general", kind="nobody", lang="fr", text="Personne pour le moment.")
    assert post(client, "/admin/away/remove?queue=general", kind="nobody", lang="fr").status_code == 302
    with app.extensions["refdesk"].desk.uow(read_only=True) as uow:
        assert uow.queues.get("general").away == {}


def test_a_viewer_cannot_remove_anything(app):  # noqa: F811
    client = app.test_client()
    sign_in(client, "ada")
    post(client, "/admin/hours/closure?queue=general", first="2026-12-24", last="2026-12-24")
    client.post("/admin/logout", data={"csrf_token": csrf(client, "/admin/")})
    sign_in(client, "vic")
    assert "Remove the closure" not in client.get("/admin/hours?queue=general").get_data(as_text=True)
    refused = post(client, "/admin/hours/closure/remove?queue=general", first="2026-12-24", last="2026-12-24")
    assert refused.status_code == 403 and closures(app) == [["2026-12-24", "2026-12-24"]]
