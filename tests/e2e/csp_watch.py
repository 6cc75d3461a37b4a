"""Fail browser tests on Content-Security-Policy violations (and wait as patiently as every other test).

Chromium reports each violation (an inline script or style, a blocked connection or frame) as a
console error starting "Refused to …"; a page can still look fine while it loses a feature to
one, so every page a test opens is watched and any violation fails the test.
"""

from __future__ import annotations

from typing import Any

from tests.patience import PATIENCE

REFUSAL_MARKERS = ("Content Security Policy", "Content-Security-Policy")


class CspWatchedBrowser:
    """Stands in for Playwright's Browser: every context and page it makes reports CSP violations here."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser
        self.violations: list[str] = []

    def _console(self, message: Any) -> None:
        if message.type == "error" and any(marker in message.text for marker in REFUSAL_MARKERS):
            self.violations.append(message.text)

    def new_context(self, **options: Any) -> Any:
        context = self._browser.new_context(**options)
        context.set_default_timeout(PATIENCE * 1000)
        context.on("console", self._console)
        return context

    def new_page(self, **options: Any) -> Any:
        page = self._browser.new_page(**options)
        page.set_default_timeout(PATIENCE * 1000)
        page.on("console", self._console)
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)
