"""Log lines: one per event, JSON for log shippers, naming the conversation but never what was said."""

from __future__ import annotations

import io
import json
import logging

import pytest

from adapters import logging_setup
from adapters.settings import Settings
from router import delivery
from router.errors import DeliveryError
from router.model import Backend
from web import create_app

NAME, EMAIL, SAID = "Grace Hopper", "grace.hopper@example.org", "Where are the COBOL manuals?"


class DownChannel:
    """A staff side that cannot be reached."""

    def open_thread(self, queue, conversation, key, maybe_sent=False):  # noqa: ANN001 - the StaffChannel port
        raise DeliveryError("connection refused")


@pytest.fixture
def log_lines():
    """Everything logged during the test, as configured by REFDESK_LOG_FORMAT=json."""
    stream = io.StringIO()
    logging_setup.configure_from(Settings(log_format="json"), stream=stream)
    yield stream


def parsed(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]  # each line one JSON object


def test_json_log_lines_parse_and_name_the_conversation_but_not_the_patron(container, log_lines):
    app = create_app(container)
    client = app.test_client()
    chat = client.post("/api/v1/conversations", json={"queue": "general", "name": NAME, "email": EMAIL}).json
    auth = {"Authorization": f"Bearer {chat['token']}"}
    assert client.post(f"/api/v1/conversations/{chat['id']}/messages", json={"body": SAID}, headers=auth).status_code
    logging.getLogger("tests.outside").warning("a line about no chat")

    assert delivery.deliver_one(container.desk, {Backend.MATRIX: DownChannel()})  # fails: logged, retried later

    lines = parsed(log_lines)
    [failure] = [line for line in lines if line["logger"] == "router.delivery"]
    assert failure["level"] == "WARNING" and "connection refused" in failure["message"]
    assert failure["conversation_id"] == chat["id"]
    assert set(failure) == {"time", "level", "logger", "message", "conversation_id"}
    [outside] = [line for line in lines if line["logger"] == "tests.outside"]
    assert "conversation_id" not in outside
    for secret in (NAME, EMAIL, SAID, chat["token"]):
        assert secret not in log_lines.getvalue()


def test_a_request_about_a_conversation_names_it_in_its_log_lines(container, log_lines):
    app = create_app(container)

    @app.get("/probe/<conversation_id>")
    def probe(conversation_id: str):
        logging.getLogger("web.probe").info("probed")
        return {}

    client = app.test_client()
    client.get("/probe/abc123")
    client.get("/probe/bad%0Aid")  # not id-shaped: never copied into a log line
    probes = [line for line in parsed(log_lines) if line["logger"] == "web.probe"]
    assert [line.get("conversation_id") for line in probes] == ["abc123", None]


def test_an_exception_stays_inside_its_one_json_line(log_lines):
    try:
        raise RuntimeError("first line\nsecond line")
    except RuntimeError:
        logging.getLogger("tests.crash").exception("it broke")
    [line] = parsed(log_lines)
    assert line["message"] == "it broke" and "RuntimeError: first line\nsecond line" in line["exception"]


def test_text_lines_are_one_line_per_event_even_when_a_message_holds_a_newline():
    stream = io.StringIO()
    logging_setup.configure("INFO", "text", stream)
    logging.getLogger("tests.forged").warning("real event\n2025-01-01 00:00:00,000 INFO forged: fake event")
    [line] = stream.getvalue().splitlines()
    assert " WARNING tests.forged: real event\\n" in line


@pytest.mark.parametrize(("level", "heard"), [("INFO", False), ("DEBUG", True)])
def test_matrix_nio_says_handling_event_only_at_debug(level, heard):
    stream = io.StringIO()
    logging_setup.configure(level, "text", stream)
    logging.getLogger("nio.rooms").info("Room !abc:localhost handling event of type RoomMessageText")
    logging.getLogger("nio.rooms").warning("something nio thinks is wrong")
    assert ("handling event" in stream.getvalue()) is heard
    assert "something nio thinks is wrong" in stream.getvalue()


def test_the_log_settings_are_checked_at_start_up():
    with pytest.raises(ValueError, match="log_format"):
        Settings(log_format="xml")
    with pytest.raises(ValueError, match="log_level"):
        Settings(log_level="LOUD")
