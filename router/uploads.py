"""What a patron may upload: a few common types, recognised by content rather than by name."""

from __future__ import annotations

from router import errors

SIGNATURES = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
]


def check_upload(name: str, data: bytes, max_bytes: int) -> str:
    """The file's real type, or a clear error (too large, empty, or not an accepted kind)."""
    if len(data) > max_bytes:
        raise errors.FileTooLarge(f"files can be at most {max_bytes // (1024 * 1024) or 1} MB")
    if not data:
        raise errors.UnsupportedFile("the file is empty")
    for signature, mimetype in SIGNATURES:
        if data.startswith(signature):
            return mimetype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if name.lower().endswith(".txt"):
        try:
            data.decode("utf-8")
            return "text/plain"
        except UnicodeDecodeError:
            pass
    raise errors.UnsupportedFile("accepted files: images (PNG, JPEG, GIF, WebP), PDF and plain text")
