"""Log records are cleaned of secrets where they are made, for every logger and handler."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from adapters import log_redaction

KNOWN = "matrix-access-token-learnt-at-login"


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A library-like logger at DEBUG whose records propagate to a handler on the root, and its output."""
    log_redaction.install([KNOWN])
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root, logger = logging.getLogger(), logging.getLogger("some_library.http")
    root.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield logger, buffer
    root.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


@pytest.mark.parametrize(
    ("message", "args", "kept"),
    [
        ("Sending a request - headers: %s", ({"Authorization": "Bearer xoxb-1234-abcd"},), "Sending a request"),
        ("connecting with %s", ("xapp-1-A0123-456-abcdef",), "connecting with"),
        ('"GET /api/v1/conversations/7/events?token=%s HTTP/1.1" 200 -', ("s3cr3t-patron",), "/events?token="),
        ("Row %r", (("matrix.session", '{"device_id": "D", "access_token": "syt_abc"}'),), '"device_id": "D"'),
        ("login body %s", ({"type": "m.login.password", "password": "hunter2hunter2"},), "m.login.password"),
        ("whoami with %s", (KNOWN,), "whoami with"),
    ],
)
def test_secrets_are_replaced_and_the_rest_of_the_line_kept(log, message, args, kept):
    logger, output = log
    logger.debug(message, *args)
    line = output.getvalue()
    assert kept in line and log_redaction.REDACTED in line
    for secret in ("xoxb-1234-abcd", "xapp-1-A0123", "s3cr3t-patron", "syt_abc", "hunter2hunter2", KNOWN):
        assert secret not in line


def test_a_traceback_is_cleaned_too(log):
    logger, output = log
    try:
        raise RuntimeError(f"login failed with token {KNOWN}")
    except RuntimeError:
        logger.exception("Matrix connection failed")
    text = output.getvalue()
    assert "Matrix connection failed" in text and "RuntimeError: login failed with token" in text
    assert KNOWN not in text


def test_ordinary_lines_are_left_alone(log):
    logger, output = log
    logger.info("delivered %s item(s) to %s", 3, "!room:localhost")
    assert output.getvalue() == "delivered 3 item(s) to !room:localhost\n"


def test_short_values_are_not_remembered():
    log_redaction.remember(["", None, "abc"])
    assert log_redaction.redact("abc and nothing else") == "abc and nothing else"
