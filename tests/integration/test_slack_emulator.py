"""The Slack emulator itself, driven with slack_sdk's own clients and a tiny stdlib receiver standing in for the app."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.slack_emulator import SlackEmulator

pytestmark = pytest.mark.timeout(30)

CHANNEL, OTHER, OUTSIDE = "C0DESK", "C0OTHER", "C0OUTSIDE"
ALICE = "U0ALICE"
Responder = Callable[[bytes, dict[str, str]], tuple[int, str, bytes]]


class Receiver:
    """The app's /slack/events as a stdlib server: records each request, answers with `respond`."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.respond: Responder = lambda body, headers: (200, "text/plain", b"")
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                receiver.requests.append((headers, body))
                status, content_type, answer = receiver.respond(body, headers)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack/events"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def json(self, index: int = -1) -> dict[str, Any]:
        return json.loads(self.requests[index][1])

    def form_payload(self, index: int = -1) -> dict[str, Any]:
        return json.loads(parse_qs(self.requests[index][1].decode())["payload"][0])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def make_emulator(**options: Any) -> SlackEmulator:
    emulator = SlackEmulator(**options)
    emulator.add_channel(CHANNEL, "reference-desk")
    emulator.add_channel(OTHER, "reference-desk-2")
    emulator.add_channel(OUTSIDE, "random", bot_is_member=False)
    emulator.add_user(ALICE, name="alice", real_name="Alice Librarian", display_name="Alice")
    return emulator


@pytest.fixture
def emulator(receiver: Receiver) -> Iterator[SlackEmulator]:
    with make_emulator() as emulator:
        emulator.events_url = receiver.url
        yield emulator


@pytest.fixture
def client(emulator: SlackEmulator) -> WebClient:
    return WebClient(token=emulator.bot_token, base_url=emulator.api_url, timeout=5)


def verifier(emulator: SlackEmulator) -> SignatureVerifier:
    return SignatureVerifier(emulator.signing_secret)


def test_events_are_signed_as_slack_signs_them(emulator: SlackEmulator, receiver: Receiver) -> None:
    ts = emulator.staff_posts(ALICE, CHANNEL, "hello from the desk")
    assert emulator.last_delivery is not None and emulator.last_delivery.result == 200
    headers, body = receiver.requests[-1]
    assert verifier(emulator).is_valid_request(body, headers)
    envelope = receiver.json()
    assert envelope["type"] == "event_callback" and envelope["team_id"] == emulator.team_id
    assert envelope["event_id"].startswith("Ev") and isinstance(envelope["event_time"], int)
    assert envelope["authorizations"][0]["user_id"] == emulator.bot_user_id
    event = envelope["event"]
    assert (event["type"], event["channel"], event["user"], event["text"], event["ts"]) == (
        "message",
        CHANNEL,
        ALICE,
        "hello from the desk",
        ts,
    )
    assert event["event_ts"] == ts and event["channel_type"] == "channel" and "subtype" not in event

    # Slack's retry: the same envelope, freshly signed, with the retry headers.
    assert emulator.redeliver(envelope["event_id"], retry_num=2) == 200
    retry_headers, retry_body = receiver.requests[-1]
    assert json.loads(retry_body) == envelope and verifier(emulator).is_valid_request(retry_body, retry_headers)
    assert (retry_headers["X-Slack-Retry-Num"], retry_headers["X-Slack-Retry-Reason"]) == ("2", "http_timeout")

    # A stale timestamp and a forged signature fail verification.
    emulator.deliver_event({"type": "message", "channel": CHANNEL, "text": "old"}, timestamp=int(time.time()) - 600)
    assert not verifier(emulator).is_valid_request(receiver.requests[-1][1], receiver.requests[-1][0])
    emulator.deliver_event({"type": "message", "channel": CHANNEL, "text": "forged"}, signature="v0=" + "0" * 64)
    assert not verifier(emulator).is_valid_request(receiver.requests[-1][1], receiver.requests[-1][0])

    # The app's answer is the delivery result.
    receiver.respond = lambda body, headers: (500, "text/plain", b"boom")
    assert emulator.deliver_event({"type": "message", "channel": CHANNEL, "text": "x"}) == 500


def test_url_verification_echoes_the_challenge(emulator: SlackEmulator, receiver: Receiver) -> None:
    def answer(body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        return 200, "text/plain", json.loads(body)["challenge"].encode()

    receiver.respond = answer
    assert emulator.verify_url("c-123") == "c-123"
    assert receiver.json() == {"token": emulator.verification_token, "challenge": "c-123", "type": "url_verification"}
    assert verifier(emulator).is_valid_request(receiver.requests[-1][1], receiver.requests[-1][0])


def test_message_subtypes(emulator: SlackEmulator, receiver: Receiver, client: WebClient) -> None:
    root = client.chat_postMessage(channel=CHANNEL, text="Patron: where are the atlases?")["ts"]
    reply = emulator.staff_posts(ALICE, CHANNEL, "Second floor", thread_ts=root)
    assert (
        receiver.json()["event"]["thread_ts"] == root
        and receiver.json()["event"]["parent_user_id"] == emulator.bot_user_id
    )

    emulator.staff_edits(ALICE, CHANNEL, reply, "Second floor, east wing")
    changed = receiver.json()["event"]
    assert (changed["subtype"], changed["hidden"], changed["channel"]) == ("message_changed", True, CHANNEL)
    assert changed["message"]["text"] == "Second floor, east wing" and changed["message"]["thread_ts"] == root
    assert changed["message"]["edited"] == {"user": ALICE, "ts": changed["ts"]}
    assert changed["previous_message"]["text"] == "Second floor"

    broadcast = emulator.staff_posts(ALICE, CHANNEL, "FYI all", thread_ts=root, broadcast=True)
    event = receiver.json()["event"]
    assert event["subtype"] == "thread_broadcast" and event["root"]["ts"] == root and event["ts"] == broadcast

    other_bot = emulator.bot_posts(CHANNEL, "deploy finished")
    event = receiver.json()["event"]
    assert (event["subtype"], event["bot_id"], "user" in event) == ("bot_message", "BOTHERBOT1", False)

    shared = emulator.staff_shares_file(ALICE, CHANNEL, root, "map.png", b"\x89PNG-bytes", "image/png")
    event = receiver.json()["event"]
    assert event["subtype"] == "file_share" and event["ts"] == shared and event["thread_ts"] == root
    file = event["files"][0]
    assert (file["name"], file["mimetype"], file["size"]) == ("map.png", "image/png", 10)
    with_token = urllib.request.Request(file["url_private"], headers={"Authorization": f"Bearer {emulator.bot_token}"})
    with urllib.request.urlopen(with_token, timeout=5) as response:
        assert response.read() == b"\x89PNG-bytes" and response.headers["Content-Type"] == "image/png"
    with urllib.request.urlopen(file["url_private"], timeout=5) as response:  # no token: Slack's sign-in page
        assert response.headers["Content-Type"].startswith("text/html")
    assert emulator.downloads == [(file["id"], True), (file["id"], False)]

    emulator.staff_deletes(ALICE, CHANNEL, reply)
    deleted = receiver.json()["event"]
    assert (deleted["subtype"], deleted["deleted_ts"]) == ("message_deleted", reply)
    assert deleted["previous_message"]["text"] == "Second floor, east wing"

    assert [m["ts"] for m in emulator.thread(CHANNEL, root)] == [broadcast, shared]
    assert [m["ts"] for m in emulator.messages(CHANNEL)] == [root, broadcast, other_bot, shared]
    stored_root = emulator.message(CHANNEL, root)
    assert stored_root is not None and stored_root["reply_count"] == 2 and stored_root["latest_reply"] == shared
    event_ts = [json.loads(body)["event"]["event_ts"] for _, body in receiver.requests]
    assert event_ts == sorted(event_ts, key=float) and len(set(event_ts)) == len(event_ts)


def test_post_rate_limit_is_a_per_channel_token_bucket(receiver: Receiver) -> None:
    with make_emulator(post_rate_per_second=2.0, post_burst=3) as emulator:
        client = WebClient(token=emulator.bot_token, base_url=emulator.api_url, timeout=5)
        for n in range(3):
            client.chat_postMessage(channel=CHANNEL, text=f"burst {n}")
        with pytest.raises(SlackApiError) as refused:
            client.chat_postMessage(channel=CHANNEL, text="one too many")
        response = refused.value.response
        assert response.status_code == 429 and response.data == {"ok": False, "error": "ratelimited"}
        retry_after = response.headers["Retry-After"]
        assert retry_after.isdigit() and int(retry_after) >= 1
        assert [m["text"] for m in emulator.messages(CHANNEL)] == ["burst 0", "burst 1", "burst 2"]
        assert emulator.calls[-1] == ("chat.postMessage", {"channel": CHANNEL, "text": "one too many"})
        client.chat_postMessage(channel=OTHER, text="another channel has its own bucket")
        time.sleep(0.6)  # 2 tokens a second: one is back
        client.chat_postMessage(channel=CHANNEL, text="after the refill")
        assert emulator.messages(CHANNEL)[-1]["text"] == "after the refill"


def test_posts_are_also_limited_across_the_workspace(receiver: Receiver) -> None:
    """Slack: about 1/s per channel, and "several hundred a minute" for the app in the whole workspace."""
    with make_emulator(post_burst=5, workspace_posts_per_minute=60, workspace_post_burst=2) as emulator:
        client = WebClient(token=emulator.bot_token, base_url=emulator.api_url, timeout=5)
        client.chat_postMessage(channel=CHANNEL, text="one")
        client.chat_postMessage(channel=OTHER, text="two")
        with pytest.raises(SlackApiError) as refused:
            client.chat_postMessage(channel=CHANNEL, text="three")  # CHANNEL's own bucket still has 4
        assert refused.value.response.status_code == 429
        assert emulator.rate_limited == [("chat.postMessage", CHANNEL, 1)]
        assert [m["text"] for m in emulator.messages(CHANNEL)] == ["one"]


def test_sharing_a_file_counts_against_the_channel_post_limit(receiver: Receiver) -> None:
    """Slack: the per-channel limit holds "whether a message is posted via chat.postMessage ... or one of the
    many other ways to send messages"; a file shared into a channel is such a message."""
    with make_emulator(post_burst=1) as emulator:
        client = WebClient(token=emulator.bot_token, base_url=emulator.api_url, timeout=5)
        client.chat_postMessage(channel=CHANNEL, text="one")
        with pytest.raises(SlackApiError) as refused:
            client.files_upload_v2(channel=CHANNEL, content=b"call numbers", filename="list.txt")
        assert refused.value.response.status_code == 429
        assert emulator.rate_limited == [("files.completeUploadExternal", CHANNEL, 1)]
        assert [m["text"] for m in emulator.messages(CHANNEL)] == ["one"]


def test_rate_limit_retry_handler_eventually_succeeds(receiver: Receiver) -> None:
    with make_emulator(post_rate_per_second=2.0, post_burst=1) as emulator:
        client = WebClient(token=emulator.bot_token, base_url=emulator.api_url, timeout=5)
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
        client.chat_postMessage(channel=CHANNEL, text="first")
        started = time.monotonic()
        assert client.chat_postMessage(channel=CHANNEL, text="second")["ok"]
        assert time.monotonic() - started >= 1.0  # it waited Retry-After
        assert [c[0] for c in emulator.calls] == ["chat.postMessage"] * 3
        assert [m["text"] for m in emulator.messages(CHANNEL)] == ["first", "second"]


def test_conversations_replies_returns_metadata_when_asked(emulator: SlackEmulator, client: WebClient) -> None:
    metadata = {"event_type": "refdesk_message", "event_payload": {"conversation": 7, "key": "m-1"}}
    root = client.chat_postMessage(channel=CHANNEL, text="root", metadata=metadata)["ts"]
    reply = client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=root, metadata=metadata)
    assert reply["message"]["thread_ts"] == root and reply["message"]["bot_id"] == emulator.bot_id
    thread = client.conversations_replies(channel=CHANNEL, ts=root, include_all_metadata=True)["messages"]
    assert [m["text"] for m in thread] == ["root", "reply"] and [m["metadata"] for m in thread] == [metadata] * 2
    assert thread[0]["reply_count"] == 1 and thread[1]["parent_user_id"] == emulator.bot_user_id
    plain = client.conversations_replies(channel=CHANNEL, ts=root)["messages"]
    assert all("metadata" not in m for m in plain)
    history = client.conversations_history(channel=CHANNEL, include_all_metadata=True)["messages"]
    assert [m["text"] for m in history] == ["root"] and history[0]["metadata"] == metadata
    page = client.conversations_replies(channel=CHANNEL, ts=root, limit=1)
    assert page["has_more"] and len(page["messages"]) == 1
    rest = client.conversations_replies(channel=CHANNEL, ts=root, cursor=page["response_metadata"]["next_cursor"])
    assert [m["text"] for m in rest["messages"]] == ["reply"]


def test_errors(emulator: SlackEmulator, client: WebClient) -> None:
    def error_of(call: Callable[[], Any]) -> str:
        with pytest.raises(SlackApiError) as raised:
            call()
        return raised.value.response["error"]

    assert error_of(lambda: client.chat_postMessage(channel=OUTSIDE, text="x")) == "not_in_channel"
    assert error_of(lambda: client.chat_postMessage(channel="C0NOWHERE", text="x")) == "channel_not_found"
    assert error_of(lambda: client.api_call("chat.postMessage", json={"channel": CHANNEL})) == "no_text"
    wrong = WebClient(token="xoxb-wrong", base_url=emulator.api_url, timeout=5)
    assert error_of(lambda: wrong.chat_postMessage(channel=CHANNEL, text="x")) == "invalid_auth"
    nobody = WebClient(base_url=emulator.api_url, timeout=5)
    assert error_of(lambda: nobody.auth_test()) == "not_authed"
    assert error_of(lambda: client.apps_connections_open(app_token=emulator.bot_token)) == "not_allowed_token_type"
    assert error_of(lambda: client.users_info(user="U0NOBODY")) == "user_not_found"
    assert error_of(lambda: client.chat_update(channel=CHANNEL, ts="1.000001", text="x")) == "message_not_found"
    staff = emulator.staff_posts(ALICE, CHANNEL, "mine")
    assert error_of(lambda: client.chat_update(channel=CHANNEL, ts=staff, text="x")) == "cant_update_message"
    assert error_of(lambda: client.conversations_replies(channel=CHANNEL, ts="1.000001")) == "thread_not_found"
    assert emulator.messages(CHANNEL)[-1]["text"] == "mine"
    assert client.users_info(user=ALICE)["user"]["profile"]["display_name"] == "Alice"
    assert client.auth_test()["user_id"] == emulator.bot_user_id


def test_update_delete_ephemeral(emulator: SlackEmulator, client: WebClient) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="draft", blocks=[{"type": "divider"}])["ts"]
    updated = client.chat_update(channel=CHANNEL, ts=ts, text="final")
    assert updated["text"] == "final" and updated["message"]["edited"]["user"] == emulator.bot_user_id
    message = emulator.message(CHANNEL, ts)
    assert message is not None and message["blocks"] == [{"type": "divider"}]
    assert client.chat_postEphemeral(channel=CHANNEL, user=ALICE, text="only you")["message_ts"]
    assert emulator.ephemerals[-1]["user"] == ALICE and emulator.ephemerals[-1]["text"] == "only you"
    client.chat_delete(channel=CHANNEL, ts=ts)
    assert emulator.deleted == [(CHANNEL, ts)] and emulator.messages(CHANNEL) == []


def test_injected_failures(emulator: SlackEmulator, client: WebClient) -> None:
    emulator.fail_next("chat.postMessage", error="internal_error")
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=CHANNEL, text="lost")
    assert raised.value.response["error"] == "internal_error" and emulator.messages(CHANNEL) == []

    emulator.fail_next("chat.postMessage", http_status=503)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=CHANNEL, text="lost too")
    assert raised.value.response.status_code == 503 and emulator.messages(CHANNEL) == []

    # The ambiguous failure: stored, but the connection drops; a client without retries sees an error...
    emulator.fail_next("chat.postMessage", drop=True)
    bare = WebClient(token=emulator.bot_token, base_url=emulator.api_url, timeout=5, retry_handlers=[])
    with pytest.raises(Exception) as dropped:  # noqa: B017 - urllib's RemoteDisconnected / URLError
        bare.chat_postMessage(channel=CHANNEL, text="maybe sent")
    assert not isinstance(dropped.value, SlackApiError)
    assert [m["text"] for m in emulator.messages(CHANNEL)] == ["maybe sent"]
    # ...and slack_sdk's default connection-error retry posts it again: a duplicate the app has to detect.
    emulator.fail_next("chat.postMessage", drop=True)
    assert client.chat_postMessage(channel=CHANNEL, text="sent twice")["ok"]
    assert [m["text"] for m in emulator.messages(CHANNEL)] == ["maybe sent", "sent twice", "sent twice"]

    emulator.fail_next("chat.postMessage", delay=1.0)
    impatient = WebClient(token=emulator.bot_token, base_url=emulator.api_url, timeout=0.3, retry_handlers=[])
    with pytest.raises(TimeoutError):
        impatient.chat_postMessage(channel=OTHER, text="slow")  # OTHER: CHANNEL's burst is spent by now
    assert [m["text"] for m in emulator.messages(OTHER)] == ["slow"]


def test_block_actions_and_response_url(emulator: SlackEmulator, receiver: Receiver, client: WebClient) -> None:
    button = {"type": "button", "action_id": "claim", "text": {"type": "plain_text", "text": "Claim"}, "value": "c7"}
    ts = client.chat_postMessage(channel=CHANNEL, text="new chat", blocks=[{"type": "actions", "block_id": "act",
                                                                          "elements": [button]}])["ts"]  # fmt: skip
    assert emulator.click(ALICE, CHANNEL, ts, "claim") == 200
    headers, body = receiver.requests[-1]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert verifier(emulator).is_valid_request(body, headers)
    payload = receiver.form_payload()
    assert payload["type"] == "block_actions" and payload["user"]["id"] == ALICE and payload["trigger_id"]
    assert payload["container"] == {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False}
    assert payload["message"]["ts"] == ts and payload["channel"] == {"id": CHANNEL, "name": "reference-desk"}
    action = payload["actions"][0]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
        "claim",
        "act",
        "c7",
        "button",
    )

    request = urllib.request.Request(
        payload["response_url"],
        data=json.dumps({"replace_original": True, "text": "claimed by Alice"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
    message = emulator.message(CHANNEL, ts)
    assert message is not None and message["text"] == "claimed by Alice"
    assert emulator.responses[-1]["payload"]["replace_original"] is True

    assert emulator.click(ALICE, CHANNEL, ts, "claim") == 200
    request = urllib.request.Request(
        receiver.form_payload()["response_url"],
        data=json.dumps({"delete_original": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
    assert emulator.message(CHANNEL, ts) is None and emulator.deleted == [(CHANNEL, ts)]


def test_slash_command(emulator: SlackEmulator, receiver: Receiver) -> None:
    answer = {"response_type": "ephemeral", "text": "3 chats waiting"}
    receiver.respond = lambda body, headers: (200, "application/json", json.dumps(answer).encode())
    result = emulator.slash(ALICE, CHANNEL, "/refdesk", "queue")
    assert result["status"] == 200 and result["body"] == answer
    form = {k: v[0] for k, v in parse_qs(receiver.requests[-1][1].decode()).items()}
    assert (form["command"], form["text"], form["user_id"], form["channel_id"]) == ("/refdesk", "queue", ALICE, CHANNEL)
    assert form["response_url"].startswith(emulator.base_url) and form["trigger_id"]
    assert verifier(emulator).is_valid_request(receiver.requests[-1][1], receiver.requests[-1][0])
    assert emulator.ephemerals[-1] == {
        "channel": CHANNEL,
        "user": ALICE,
        "via": "slash_commands",
        "text": answer["text"],
    }


def test_files_upload_v2(emulator: SlackEmulator, client: WebClient) -> None:
    root = client.chat_postMessage(channel=CHANNEL, text="patron sent a file")["ts"]
    upload = client.files_upload_v2(channel=CHANNEL, thread_ts=root, content=b"call number list", filename="list.txt")
    file_id = upload["file"]["id"]
    shared = emulator.thread(CHANNEL, root)[-1]
    assert shared["files"][0]["id"] == file_id and shared["bot_id"] == emulator.bot_id
    info = client.files_info(file=file_id)["file"]
    request = urllib.request.Request(info["url_private_download"], headers={"Authorization": f"Bearer {client.token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.read() == b"call number list"


def test_echoed_bot_events(emulator: SlackEmulator, receiver: Receiver, client: WebClient) -> None:
    emulator.echo_bot_events = True
    ts = client.chat_postMessage(channel=CHANNEL, text="from the app")["ts"]
    client.chat_update(channel=CHANNEL, ts=ts, text="edited by the app")
    assert emulator.wait_idle(5)
    events = [json.loads(body)["event"] for _, body in receiver.requests]
    assert [(e.get("subtype"), e.get("bot_id") or e["message"]["bot_id"]) for e in events] == [
        (None, emulator.bot_id),
        ("message_changed", emulator.bot_id),
    ]
    assert emulator.echo_errors == []


def test_socket_mode_with_slack_sdk_client() -> None:
    with make_emulator() as emulator:
        emulator.mode = "socket"
        received: list[SocketModeRequest] = []

        def listener(socket_client: SocketModeClient, request: SocketModeRequest) -> None:
            received.append(request)
            answer = {"text": "pong"} if request.type == "slash_commands" else None
            socket_client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id, payload=answer))

        web = WebClient(base_url=emulator.api_url, timeout=5)
        socket_client = SocketModeClient(app_token=emulator.app_token, web_client=web, auto_reconnect_enabled=False)
        socket_client.socket_mode_request_listeners.append(listener)
        try:
            socket_client.connect()
            assert emulator.wait_for_socket(5)
            ts = emulator.staff_posts(ALICE, CHANNEL, "over the socket")
            delivery = emulator.last_delivery
            assert delivery is not None and delivery.result is True
            assert received[-1].type == "events_api" and received[-1].envelope_id == delivery.envelope["envelope_id"]
            assert received[-1].payload["event"]["ts"] == ts and received[-1].payload["type"] == "event_callback"
            assert emulator.acks[-1]["envelope_id"] == received[-1].envelope_id

            result = emulator.slash(ALICE, CHANNEL, "/refdesk", "ping")
            assert result["status"] == 200 and result["body"] == {"text": "pong"}
            assert received[-1].type == "slash_commands" and received[-1].payload["command"] == "/refdesk"
            assert emulator.ephemerals[-1]["text"] == "pong"

            assert emulator.redeliver(emulator.deliveries[0].payload["event_id"], retry_num=1) is True
            assert received[-1].retry_attempt == 1 and received[-1].retry_reason == "http_timeout"

        finally:
            emulator.socket.stop()  # server first: the client's close() then needs no 3 s read timeout
            socket_client.close()


def test_socket_mode_protocol_with_a_raw_websocket() -> None:
    with make_emulator() as emulator:
        emulator.mode, emulator.ack_timeout = "socket", 0.3
        url = WebClient(base_url=emulator.api_url, timeout=5).apps_connections_open(app_token=emulator.app_token)["url"]
        assert url.startswith("ws://127.0.0.1:")
        with connect(url, open_timeout=5) as websocket:
            hello = json.loads(websocket.recv(timeout=5))
            assert hello["type"] == "hello" and hello["num_connections"] == 1

            emulator.staff_posts(ALICE, CHANNEL, "nobody acknowledges this")
            envelope = json.loads(websocket.recv(timeout=5))
            assert envelope["type"] == "events_api" and envelope["accepts_response_payload"] is False
            assert emulator.last_delivery is not None and emulator.last_delivery.result is False

            results: list[int | bool] = []
            ts = emulator.messages(CHANNEL)[-1]["ts"]
            clicking = threading.Thread(target=lambda: results.append(emulator.click(ALICE, CHANNEL, ts, "claim")))
            emulator.ack_timeout = 5
            clicking.start()
            envelope = json.loads(websocket.recv(timeout=5))
            assert envelope["type"] == "interactive" and envelope["payload"]["type"] == "block_actions"
            websocket.send(json.dumps({"envelope_id": envelope["envelope_id"]}))
            clicking.join(5)
            assert results == [True] and emulator.acks[-1] == {"envelope_id": envelope["envelope_id"]}

            assert emulator.socket_disconnect("refresh_requested") == 1
            assert json.loads(websocket.recv(timeout=5))["type"] == "disconnect"
        with connect(url, open_timeout=5) as reused, pytest.raises(ConnectionClosed):  # tickets are single-use
            reused.recv(timeout=5)
