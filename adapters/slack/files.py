"""Download files staff share in a thread, sending the bot token only to Slack's own file hosts.

A `file_share` event names its file by URL (`url_private`, `url_private_download`), and the
download needs the bot token. The URL comes from the event, so a forged or odd event could point
it anywhere: the token would go with it. So the host is checked against an allowlist first, and
redirects are refused unless they stay on an allowed origin (urllib copies the Authorization
header to wherever a redirect points).
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

# Where Slack serves url_private / url_private_download (https://files.slack.com/files-pri/T…-F…/…).
SLACK_FILE_HOSTS = ("files.slack.com",)

Origin = tuple[str, str]  # (scheme, host[:port]), lower case


def origin_of(url: str) -> Origin:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def allowed_origins(api_url: str | None) -> frozenset[Origin]:
    """Slack's file hosts over https; plus the emulator's origin when a test points the Web API at one."""
    origins = {("https", host) for host in SLACK_FILE_HOSTS}
    if api_url:
        origins.add(origin_of(api_url))
    return frozenset(origins)


class _SameOriginsOnly(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to an allowed origin; anywhere else is an error, and the token stays here."""

    def __init__(self, origins: Iterable[Origin]):
        self.origins = frozenset(origins)

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, PLR0913 - urllib's signature
        if origin_of(newurl) not in self.origins:
            raise urllib.error.HTTPError(newurl, code, "redirect to a host that is not Slack's refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class FileFetcher:
    """Download files staff share (url_private needs the bot token), within a size limit, from Slack only."""

    def __init__(self, token: str, max_bytes: int, origins: Iterable[Origin] = allowed_origins(None)):
        self.token, self.max_bytes = token, max_bytes
        self.origins = frozenset(origins)
        self._opener = urllib.request.build_opener(_SameOriginsOnly(self.origins))

    def __call__(self, files: list[dict[str, Any]]) -> tuple[list[tuple[str, str, bytes]], list[str]]:
        """(files fetched, names of those that could not be forwarded)."""
        fetched, skipped = [], []
        for file in files:
            name = str(file.get("name") or file.get("title") or "file")
            url = str(file.get("url_private_download") or file.get("url_private") or "")
            if not url or _size(file) > self.max_bytes:
                skipped.append(name)
                continue
            if origin_of(url) not in self.origins:
                log.warning("slack: not fetching %s: its URL is not on Slack's file hosts", name)
                skipped.append(name)
                continue
            data = self._download(url, name)
            if data is None or len(data) > self.max_bytes:
                skipped.append(name)
            else:
                fetched.append((name, str(file.get("mimetype") or "application/octet-stream"), data))
        return fetched, skipped

    def _download(self, url: str, name: str) -> bytes | None:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with self._opener.open(request, timeout=30) as response:
                return response.read(self.max_bytes + 1)
        except (OSError, ValueError) as exc:  # HTTPError and URLError are OSErrors; ValueError: a malformed URL
            log.warning("slack: could not download %s: %s", name, exc)
            return None


def _size(file: dict[str, Any]) -> int:
    """The size Slack states; an unreadable one counts as too large, so nothing odd is fetched."""
    try:
        return int(file.get("size") or 0)
    except (TypeError, ValueError):
        return 1 << 62
