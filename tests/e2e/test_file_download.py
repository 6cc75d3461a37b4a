"""Files download in Chromium with the Authorization header: no token in any URL but the event stream's.

The widget frame and the plain patron page both reopen a chat from a follow-up link's fragment
(`#resume=ID.TOKEN`); the patron's own file is then offered as a download, fetched with the header.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from router.model import Backend, Queue
from tests.conftest import make_container
from tests.e2e.conftest import serve

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def desk_url(tmp_path) -> Iterator[str]:
    container = make_container(f"sqlite:///{tmp_path / 'files.db'}")
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
        uow.commit()
    base_url, server = serve(container)
    yield base_url
    server.shutdown()
    container.close()


def chat_with_a_file(base_url: str) -> tuple[str, str]:
    chat = requests.post(f"{base_url}/api/v1/conversations", json={"queue": "general"}, timeout=10).json()
    shared = requests.post(
        f"{base_url}/api/v1/conversations/{chat['id']}/files",
        files={"file": ("call-number.png", PNG, "image/png")},
        headers={"Authorization": f"Bearer {chat['token']}"},
        timeout=10,
    )
    assert shared.status_code == 201
    return chat["id"], chat["token"]


@pytest.mark.parametrize("page_path", ["/widget/frame?queue=general", "/chat/general"], ids=["widget", "patron-page"])
def test_a_file_downloads_with_the_header_and_no_token_in_its_url(browser, desk_url, page_path, tmp_path):
    conversation_id, token = chat_with_a_file(desk_url)
    context = browser.new_context(accept_downloads=True)
    urls: list[str] = []
    context.on("request", lambda request: urls.append(request.url))
    try:
        page = context.new_page()
        page.goto(f"{desk_url}{page_path}#resume={conversation_id}.{token}")
        link = page.locator("a.file").filter(has_text="call-number.png")
        with page.expect_download() as saved:
            link.click()
        target = tmp_path / "saved.png"
        saved.value.save_as(target)
        assert Path(target).read_bytes() == PNG and saved.value.suggested_filename == "call-number.png"
    finally:
        context.close()
    file_requests = [url for url in urls if "/files/" in url]
    assert file_requests and all("token=" not in url for url in file_requests)
    assert all("/events?" in url for url in urls if "token=" in url)
