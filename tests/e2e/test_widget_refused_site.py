"""A site not yet allowed to embed the chat learns why, in the browser console (issue 10 §5), in real Chromium."""

from __future__ import annotations

import pytest

from router import refused_origins
from tests.e2e.conftest import wait_until
from tests.e2e.test_widget import LibrarySite, context, site  # noqa: F401 - fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.synapse, pytest.mark.browser]


@pytest.mark.csp_refusal_expected  # the frame's frame-ancestors refuses the stranger's page
def test_the_console_names_the_refused_origin_and_the_command_that_allows_it(desk, site, context):  # noqa: F811
    stranger = LibrarySite()
    stranger.refdesk = desk.base_url
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(stranger.page("/copycat", attributes='data-mode="panel" data-target="main"'))
        command = f"refdesk queue add general --origin {stranger.origin}"
        wait_until(lambda: [text for text in errors if command in text], page=page)
        assert [origin for origin, _, _ in refused_origins.refused(desk.container.desk, "general")] == [stranger.origin]

        allowed = context.new_page()
        allowed_errors: list[str] = []
        allowed.on("console", lambda message: allowed_errors.append(message.text))
        allowed.goto(site.page("/own", attributes='data-mode="panel" data-target="main"'))
        allowed.frame_locator("iframe[title]").get_by_role("button", name="Start chat").wait_for()
        assert not [text for text in allowed_errors if "refdesk queue add" in text]
    finally:
        stranger.server.shutdown()
