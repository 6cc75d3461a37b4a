"""Link cards and screen pictures through the real app on SQLite: the patron API, the web admin and the CLI."""

from __future__ import annotations

from io import BytesIO

import pytest

from adapters.cli import main
from router import commands, retention
from router.model import Backend, Queue
from tests.conftest import make_container
from tests.integration.test_admin_auth import app, csrf, sign_in  # noqa: F401 - `app` is the shared fixture
from web import create_app

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def client(tmp_path):
    container = make_container(f"sqlite:///{tmp_path / 'links.db'}", screen_frames_per_chat=2)
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
        uow.commit()
    flask_app = create_app(container)
    flask_app.testing = True
    yield flask_app.test_client()
    container.close()


def start(client) -> dict:
    response = client.post("/api/v1/conversations", json={"queue": "general"})
    assert response.status_code == 201
    return response.json


def auth(chat: dict) -> dict:
    return {"Authorization": f"Bearer {chat['token']}"}


def screen_upload(client, chat, screen: str):
    return client.post(
        f"/api/v1/conversations/{chat['id']}/files",
        data={"file": (BytesIO(PNG), "screen-1.png"), "screen": screen},
        headers=auth(chat),
        content_type="multipart/form-data",
    )


def test_screen_pictures_stop_at_the_cap_with_a_clear_409_and_a_bad_flag_is_a_422(client):
    chat = start(client)
    assert [screen_upload(client, chat, "1").status_code for _ in range(2)] == [201, 201]
    refused = screen_upload(client, chat, "1")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "screen_limit"
    assert "already has 2 pictures of the screen" in refused.json["error"]["message"]
    assert screen_upload(client, chat, "0").status_code == 201  # an ordinary file is not counted
    bad = screen_upload(client, chat, "yes")
    assert bad.status_code == 422 and bad.json["error"]["field"] == "screen"


def test_a_link_card_reaches_the_patron_and_opening_it_is_noted_once(client):
    chat = start(client)
    said = client.post(f"/api/v1/conversations/{chat['id']}/messages", json={"body": "ILL?"}, headers=auth(chat))
    desk = client.application.extensions["refdesk"].desk
    context = commands.CommandContext(["general"], "@ada:x", "Ada", conversation_id=chat["id"])
    commands.run(desk, context, "!show https://library.example/ill Interlibrary loan form")
    messages = client.get(f"/api/v1/conversations/{chat['id']}/messages", headers=auth(chat)).json["messages"]
    [card] = [m for m in messages if m["link"]]
    assert card["link"] == {"url": "https://library.example/ill", "text": "Interlibrary loan form"}
    opened = f"/api/v1/conversations/{chat['id']}/messages/{card['id']}/opened"
    assert client.post(opened, headers=auth(chat)).status_code == 204
    assert client.post(opened, headers=auth(chat)).status_code == 204  # again: fine, staff are not told twice
    with desk.uow(read_only=True) as uow:
        notices = [i for i in uow.outbox.for_conversation(chat["id"]) if "opened the link" in i.payload.get("text", "")]
    assert len(notices) == 1
    other = said.json["id"]  # the patron's own message is no link
    assert (
        client.post(f"/api/v1/conversations/{chat['id']}/messages/{other}/opened", headers=auth(chat)).status_code
        == 404
    )
    assert client.post(opened, headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.post(
        f"/api/v1/conversations/{chat['id']}/messages/not-an-id/opened", headers=auth(chat)
    ).status_code in (
        400,
        404,
    )


def test_an_admin_sets_the_sites_for_links_and_a_bad_one_changes_nothing(app):  # noqa: F811
    desk = app.extensions["refdesk"].desk
    client = app.test_client()
    sign_in(client, "ada")

    def save(sites: str):
        data = {"csrf_token": csrf(client, "/admin/queues/general"), "sites": sites}
        return client.post("/admin/queues/general/link-sites", data=data)

    assert save("https://library.example/\ncatalogue.example").status_code == 302
    with desk.uow(read_only=True) as uow:
        assert uow.queues.get("general").link_sites == ["library.example", "catalogue.example"]
    page = client.get("/admin/queues/general").get_data(as_text=True)
    assert "library.example\ncatalogue.example</textarea>" in page
    refused = save("ftp://files.example")
    assert refused.status_code == 422 and "only http:// and https://" in refused.get_data(as_text=True)
    with desk.uow(read_only=True) as uow:
        assert uow.queues.get("general").link_sites == ["library.example", "catalogue.example"]


def test_the_cli_sets_the_sites_and_updating_the_queue_keeps_them(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("REFDESK_DATABASE_URL", url)
    main(["db", "upgrade"])
    main(["queue", "add", "general", "--room", "!r:l"])
    main(["queue", "link-sites", "general", "library.example", "https://catalogue.example"])
    assert "may link to: library.example, catalogue.example" in capsys.readouterr().out
    main(["queue", "add", "general", "--room", "!other:l"])
    container = make_container(url)
    with container.desk.uow(read_only=True) as uow:
        assert uow.queues.get("general").link_sites == ["library.example", "catalogue.example"]
    container.close()
    main(["queue", "link-sites", "general"])
    assert "may link to: any http(s) page" in capsys.readouterr().out


def test_a_screen_picture_goes_with_its_chat_when_retention_deletes_it(client):
    """Screen pictures are patron files: the retention path that deletes a chat deletes them (the privacy note
    says so)."""
    chat = start(client)
    picture = screen_upload(client, chat, "1")
    assert picture.status_code == 201
    container = client.application.extensions["refdesk"]
    file_id = picture.json["attachments"][0]["id"]
    with container.desk.uow(read_only=True) as uow:
        assert uow.files.get(chat["id"], file_id).data == PNG
    retention.delete_conversation(container.desk, chat["id"])  # the scheduled purge's path, for one chat
    with container.desk.uow(read_only=True) as uow:
        assert uow.files.get(chat["id"], file_id) is None and uow.conversations.get(chat["id"]) is None
