"""Delivering to the app (HTTP Request URL or Socket Mode), response_urls, and echoes of the app's own changes."""

from __future__ import annotations

import copy
import json
import queue
import secrets
from typing import Any
from urllib.parse import urlencode

from . import payloads as p
from .delivery import Delivery, SocketHub, post
from .workspace import Channel, Message, Reply, Workspace


class Dispatch:
    # provided by SlackEmulator
    workspace: Workspace
    verification_token: str
    signing_secret: str
    mode: str
    events_url: str | None
    delivery_timeout: float
    ack_timeout: float
    echo_bot_events: bool
    base_url: str
    socket: SocketHub
    deliveries: list[Delivery]
    last_delivery: Delivery | None
    deleted: list[tuple[str, str]]
    ephemerals: list[dict[str, Any]]
    responses: list[dict[str, Any]]
    echo_errors: list[BaseException]
    _envelopes: dict[str, dict[str, Any]]
    _origins: dict[str, dict[str, Any]]
    _echo_queue: queue.Queue[dict[str, Any] | None]

    # ----------------------------------------------------------------- low level delivery
    def deliver_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> int | bool:
        """Wrap `event` in an event_callback and deliver it; timestamp/signature override the signing (stale/forged)."""
        envelope = self._envelope(event, event_id)
        return self._send_envelope(envelope, retry_num, retry_reason, timestamp, signature).result

    def redeliver(self, event_id: str, retry_num: int = 1, retry_reason: str = "http_timeout") -> int | bool:
        """The same envelope again, as Slack retries: X-Slack-Retry-Num / -Reason (socket: retry_attempt/_reason)."""
        return self._send_envelope(self._envelopes[event_id], retry_num, retry_reason).result

    def replay(self, delivery: Delivery) -> Delivery:
        """The same request again: HTTP, the very body and signed headers (an attacker's replay within the
        5-minute window); socket, the same payload in a new envelope (a redelivery)."""
        if delivery.mode == "socket":
            envelope = delivery.envelope or {}
            return self._over_socket(delivery.kind, delivery.payload, bool(envelope.get("accepts_response_payload")))
        if not self.events_url:
            raise RuntimeError("HTTP replay needs events_url")
        status, answer, answer_headers = post(self.events_url, delivery.body, delivery.headers, self.delivery_timeout)
        return self._record(
            Delivery(
                delivery.kind, delivery.payload, "http", delivery.body, delivery.headers, status, answer, answer_headers
            )
        )

    def _envelope(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        envelope = p.event_callback(
            self.workspace, self.verification_token, event, event_id or self.workspace.new_id("Ev")
        )
        self._envelopes[envelope["event_id"]] = envelope
        return envelope

    def _send_envelope(
        self,
        envelope: dict[str, Any],
        retry_num: int | None = None,
        retry_reason: str | None = None,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> Delivery:
        if self.mode == "socket":
            return self._over_socket("events_api", envelope, False, retry_num or 0, retry_reason or "")
        extra = {}
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason or "http_timeout"}
        body = json.dumps(envelope).encode()
        return self._post("events_api", envelope, body, "application/json", timestamp, signature, extra)

    def _deliver(self, kind: str, payload: dict[str, Any], form: dict[str, str]) -> Delivery:
        if self.mode == "socket":
            return self._over_socket(kind, payload, True)
        return self._post(kind, payload, urlencode(form).encode(), "application/x-www-form-urlencoded")

    def _post(
        self,
        kind: str,
        payload: dict[str, Any],
        body: bytes,
        content_type: str,
        timestamp: int | None = None,
        signature: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> Delivery:
        if self.mode != "http" or not self.events_url:
            raise RuntimeError("HTTP delivery needs mode='http' and events_url (the app's /slack/events)")
        headers = p.signed_headers(self.signing_secret, body, content_type, timestamp=timestamp, signature=signature)
        headers.update(extra or {})
        status, answer, answer_headers = post(self.events_url, body, headers, self.delivery_timeout)
        return self._record(Delivery(kind, payload, "http", body, headers, status, answer, answer_headers))

    def _over_socket(
        self, kind: str, payload: dict[str, Any], accepts: bool, retry: int = 0, reason: str = ""
    ) -> Delivery:
        envelope, ack = self.socket.send(
            kind,
            payload,
            ack_timeout=self.ack_timeout,
            accepts_response_payload=accepts,
            retry_attempt=retry,
            retry_reason=reason,
        )
        return self._record(Delivery(kind, payload, "socket", envelope=envelope, ack=ack))

    def _record(self, delivery: Delivery) -> Delivery:
        self.deliveries.append(delivery)
        self.last_delivery = delivery
        return delivery

    # ----------------------------------------------------------------- response_url and echoes
    def _response_url_for(self, **origin: Any) -> str:
        key = secrets.token_hex(12)
        self._origins[key] = origin
        return f"{self.base_url}response/{key}"

    def _response_url(self, key: str, payload: Any) -> Reply:
        origin = self._origins.get(key)
        if origin is None:
            return Reply(404, b"no_active_hooks", {"Content-Type": "text/plain"})
        if not isinstance(payload, dict):
            return Reply(400, b"invalid_payload", {"Content-Type": "text/plain"})
        self.responses.append({"origin": origin, "payload": payload})
        self._apply_response(origin, payload)
        return Reply(200, b"ok", {"Content-Type": "text/plain"})

    def _apply_response(self, origin: dict[str, Any], payload: dict[str, Any]) -> None:
        """What Slack shows for a response_url post or an immediate slash answer."""
        ws = self.workspace
        with ws.lock:
            ch, ts = ws.channel(origin["channel"]), origin.get("message_ts")
            removed = ws.remove_message(ch, ts) if ts and payload.get("delete_original") else None
            if removed is not None:
                self.deleted.append((ch.id, removed["ts"]))
                self._echo("deleted", ch, removed)
                return
            original = ws.find(ch, ts) if ts and payload.get("replace_original") else None
            if original is not None:
                before = copy.deepcopy(original)
                original.update({k: payload[k] for k in ("text", "blocks") if k in payload})
                self._echo("changed", ch, original, before)
            elif payload.get("text") or payload.get("blocks"):
                if payload.get("response_type") == "in_channel":
                    message = ws.bot_message(
                        payload.get("text", ""),
                        ws.next_ts(),
                        blocks=payload.get("blocks"),
                        thread_ts=payload.get("thread_ts"),
                    )
                    self._echo("posted", ch, ws.add_message(ch, message))
                else:
                    self.ephemerals.append(
                        {
                            "channel": ch.id,
                            "user": origin["user"],
                            "via": origin["kind"],
                            **{k: payload[k] for k in ("text", "blocks") if k in payload},
                        }
                    )

    def _echo(self, what: str, channel: Channel, message: Message, before: Message | None = None) -> None:
        """Called with the workspace lock held: queue the event Slack would send about the app's own change."""
        if not self.echo_bot_events:
            return
        ws = self.workspace
        if what == "posted":
            root = ws.find(channel, message.get("thread_ts")) if message.get("subtype") == "thread_broadcast" else None
            event = p.message_event(channel, message, root)
        elif what == "changed":
            event = p.changed_event(channel, before or message, message, ws.next_ts())
        else:
            event = p.deleted_event(channel, message, ws.next_ts())
        self._echo_queue.put(event)

    def _echo_worker(self) -> None:
        while (event := self._echo_queue.get()) is not None:
            try:
                self._send_envelope(self._envelope(event))
            except Exception as exc:  # noqa: BLE001 - kept for the test to see, the worker goes on
                self.echo_errors.append(exc)
            finally:
                self._echo_queue.task_done()
        self._echo_queue.task_done()
