"""A site not allowed to embed a queue's chat is named, with the fix, to the loader and on the admin's queue page."""

from __future__ import annotations

from router import refused_origins
from tests.integration.test_admin_auth import app, sign_in  # noqa: F401 - `app` is the shared fixture

STRANGER = "https://copycat.example"


def check(client, origin: str | None, queue: str = "general"):
    headers = {"Origin": origin} if origin else {}
    return client.get(f"/widget/check?queue={queue}", headers=headers)


def test_a_refused_origin_is_named_with_the_command_and_shown_to_the_admin(app):  # noqa: F811
    desk = app.extensions["refdesk"].desk
    client = app.test_client()
    answer = check(client, STRANGER)
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == "*"
    assert answer.json["allowed"] is False
    assert "`refdesk queue add general --origin https://copycat.example`" in answer.json["message"]
    assert "allowed sites in the web admin (Queues → general)" in answer.json["message"]

    sign_in(client, "vic")
    page = client.get("/admin/queues/general").get_data(as_text=True)
    assert "Sites refused the chat" in page and f"<code>{STRANGER}</code>" in page
    assert "<code>refdesk queue add general --origin https://copycat.example</code>" in page

    with desk.uow() as uow:  # allowed since: no longer listed, and the loader hears nothing
        queue = uow.queues.get("general")
        queue.allowed_origins = [STRANGER]
        uow.queues.add(queue)
        uow.commit()
    assert check(client, STRANGER).json == {"allowed": True, "message": None}
    assert "No site has been refused this queue's chat." in client.get("/admin/queues/general").get_data(as_text=True)


def test_only_real_origins_are_noted_each_at_most_hourly_and_only_the_newest_few(app):  # noqa: F811
    desk = app.extensions["refdesk"].desk
    client = app.test_client()
    own = "http://localhost"  # the test client's host: refdesk's own pages may show the chat
    for origin in (None, "null", "javascript:alert(1)", own, "https://x.example/path"):
        assert check(client, origin).json["allowed"] is True, origin
    for n in range(refused_origins.KEEP + 5):
        check(client, f"https://site{n}.example")
    oldest_kept = "https://site5.example"
    check(client, oldest_kept)  # seen again within the hour: not rewritten, so not moved up
    kept = [origin for origin, _, _ in refused_origins.refused(desk, "general")]
    assert len(kept) == refused_origins.KEEP and "https://site0.example" not in kept
    assert kept[0] == f"https://site{refused_origins.KEEP + 4}.example" and kept[-1] == oldest_kept
    assert check(client, STRANGER, queue="nope").json["allowed"] is True  # an unknown queue: the frame is a 404
    assert client.get("/widget/check?queue=Bad%20Slug").status_code == 404
