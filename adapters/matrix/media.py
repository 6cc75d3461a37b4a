"""Download files librarians send in a Matrix thread, through the authenticated media API.

Synapse (1.120+, and every homeserver following Matrix 1.11) serves media at
`/_matrix/client/v1/media/download/{server}/{media_id}` to logged-in users only; the old
unauthenticated `/_matrix/media/v3/download` is frozen for new uploads, which is why matrix-nio's
`download()` (it still uses v3) cannot fetch them. The bot's access token goes only to its own
homeserver: a redirect elsewhere is refused rather than followed with the token. A file from an
encrypted room is decrypted with the key its event carried (nio's `decrypt_attachment`, which
also checks the SHA-256 the sender stated).
"""

from __future__ import annotations

import logging
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from adapters.matrix.inbound import MediaRef

log = logging.getLogger(__name__)

# mxc://<server name>/<media id>: a server name is a host[:port]; a media id is [A-Za-z0-9_-]+ by the spec.
MXC = re.compile(r"^mxc://(?P<server>[A-Za-z0-9.\-:\[\]]+)/(?P<media_id>[A-Za-z0-9_\-]+)$")


@dataclass(frozen=True)
class Unfetched:
    """A file that stays in Matrix, and why (shown to staff in the thread)."""

    name: str
    reason: str


def download_url(homeserver: str, mxc: str) -> str | None:
    """The authenticated download URL for an `mxc://` URI, or None when the URI is not one."""
    match = MXC.match(mxc)
    if match is None:
        return None
    server, media_id = quote(match["server"], safe=":"), match["media_id"]
    return f"{homeserver.rstrip('/')}/_matrix/client/v1/media/download/{server}/{media_id}"


class _StayOnHomeserver(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only within the homeserver's origin: the Authorization header would go along."""

    def __init__(self, origin: tuple[str, str]):
        self.origin = origin

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, PLR0913 - urllib's signature
        parts = urlsplit(newurl)
        if (parts.scheme.lower(), parts.netloc.lower()) != self.origin:
            raise urllib.error.HTTPError(newurl, code, "redirect away from the homeserver refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class MediaFetcher:
    """Fetch files staff sent, within `max_bytes`, with the bot's current access token."""

    def __init__(self, homeserver: str, access_token: Callable[[], str], max_bytes: int, timeout: float = 30.0):
        self.homeserver, self.access_token, self.max_bytes, self.timeout = homeserver, access_token, max_bytes, timeout
        parts = urlsplit(homeserver)
        self._opener = urllib.request.build_opener(_StayOnHomeserver((parts.scheme.lower(), parts.netloc.lower())))

    def __call__(self, media: list[MediaRef]) -> tuple[list[tuple[str, str, bytes]], list[Unfetched]]:
        """(files fetched as name, mimetype, content; files that could not be, with the reason)."""
        fetched: list[tuple[str, str, bytes]] = []
        unfetched: list[Unfetched] = []
        for item in media:
            data_or_reason = self._fetch(item)
            if isinstance(data_or_reason, bytes):
                fetched.append((item.name, item.mimetype, data_or_reason))
            else:
                unfetched.append(Unfetched(item.name, data_or_reason))
        return fetched, unfetched

    def _fetch(self, media: MediaRef) -> bytes | str:
        """The file's content, or the reason it cannot be had."""
        too_big = f"larger than the {self._limit()} limit for files sent to patrons"
        if media.size is not None and media.size > self.max_bytes:
            return too_big
        url = download_url(self.homeserver, media.url)
        if url is None:
            return "it has no media address refdesk can download"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.access_token()}"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                data = response.read(self.max_bytes + 1)
        except (OSError, ValueError) as exc:  # HTTPError and URLError are OSErrors
            # Not the file's name: a patron may have chosen it (and put their own in it).
            log.warning("matrix: could not download %s: %s", media.url, exc)
            return f"the homeserver did not hand it over ({_short(exc)})"
        if len(data) > self.max_bytes:
            return too_big
        return data if media.encryption is None else _decrypted(media, data)

    def _limit(self) -> str:
        megabytes = self.max_bytes / (1024 * 1024)
        return f"{megabytes:g} MB" if megabytes >= 1 else f"{self.max_bytes} bytes"


def _decrypted(media: MediaRef, data: bytes) -> bytes | str:
    """The plain content of an encrypted attachment, or why it cannot be had."""
    from nio.crypto import decrypt_attachment  # pycryptodome, a dependency of nio itself
    from nio.exceptions import EncryptionError

    info = media.encryption or {}
    try:
        return decrypt_attachment(data, info["key"]["k"], info["hashes"]["sha256"], info["iv"])
    except (KeyError, TypeError, ValueError, EncryptionError) as exc:  # a missing field, a wrong key or hash
        log.warning("matrix: could not decrypt %s: %s", media.url, type(exc).__name__)
        return "it is encrypted and could not be decrypted"


def _short(exc: Exception) -> str:
    code = getattr(exc, "code", None)
    return f"HTTP {code}" if code else type(exc).__name__
