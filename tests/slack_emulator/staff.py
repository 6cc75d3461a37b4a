"""Acting as staff (and as other integrations): each builds the documented payload and delivers it to the app."""

from __future__ import annotations

import copy
import json
import secrets
from typing import Any

from . import payloads as p
from .delivery import Delivery
from .dispatch import Dispatch
from .views import issue_trigger, submission
from .workspace import Channel, Message, public


class StaffActions(Dispatch):
    # ----------------------------------------------------------------- acting as staff
    def _user(self, user: str) -> dict[str, Any]:
        if user not in self.workspace.users:
            raise ValueError(f"unknown user {user}: add_user() first")
        return self.workspace.users[user]

    def _existing(self, channel: Channel, ts: str) -> Message:
        found = self.workspace.find(channel, ts)
        if found is None:
            raise ValueError(f"no message {ts} in {channel.id}")
        return found

    def staff_posts(
        self, user: str, channel: str, text: str, thread_ts: str | None = None, *, broadcast: bool = False, **extra: Any
    ) -> str:
        """A person posts (a thread reply with thread_ts; broadcast=True: also to the channel); returns its ts."""
        self._user(user)
        ws, ch = self.workspace, self.workspace.channel(channel)
        with ws.lock:
            if broadcast:
                extra["subtype"] = "thread_broadcast"
            message = ws.add_message(ch, p.user_message(ws, user, text, ws.next_ts(), thread_ts, **extra))
            root = ws.find(ch, message.get("thread_ts")) if broadcast else None
            event = p.message_event(ch, message, root)
        self._send_envelope(self._envelope(event))
        return message["ts"]

    def staff_edits(self, user: str, channel: str, ts: str, text: str) -> None:
        self._user(user)
        ws, ch = self.workspace, self.workspace.channel(channel)
        with ws.lock:
            message = self._existing(ch, ts)
            if message.get("user") != user:
                raise ValueError(f"{user} cannot edit {ts}: only its author can")
            before, event_ts = copy.deepcopy(message), ws.next_ts()
            message.update(text=text, blocks=p.rich_text(text), edited={"user": user, "ts": event_ts})
            event = p.changed_event(ch, before, message, event_ts)
        self._send_envelope(self._envelope(event))

    def staff_deletes(self, user: str, channel: str, ts: str) -> None:
        self._user(user)
        ws, ch = self.workspace, self.workspace.channel(channel)
        with ws.lock:
            before = copy.deepcopy(self._existing(ch, ts))
            ws.remove_message(ch, ts)
            event = p.deleted_event(ch, before, ws.next_ts())
        self._send_envelope(self._envelope(event))

    def staff_shares_file(
        self,
        user: str,
        channel: str,
        thread_ts: str | None,
        filename: str,
        content: bytes,
        mimetype: str,
        text: str = "",
    ) -> str:
        """A person uploads a file into a thread: a file_share message whose files[] url_private we serve."""
        self._user(user)
        ws, ch = self.workspace, self.workspace.channel(channel)
        with ws.lock:
            file, ts = ws.add_file(user=user, filename=filename, content=content, mimetype=mimetype), ws.next_ts()
            ws.share_file(file, ch, ts, thread_ts)
            message = p.user_message(
                ws,
                user,
                text,
                ts,
                thread_ts,
                subtype="file_share",
                files=[copy.deepcopy(file)],
                upload=True,
                display_as_bot=False,
            )
            ws.add_message(ch, message)
            event = p.message_event(ch, message)
        self._send_envelope(self._envelope(event))
        return ts

    def bot_posts(
        self,
        channel: str,
        text: str,
        thread_ts: str | None = None,
        *,
        bot_id: str = "BOTHERBOT1",
        username: str = "otherbot",
    ) -> str:
        """Another integration posts: a bot_message (no user)."""
        ws, ch = self.workspace, self.workspace.channel(channel)
        with ws.lock:
            message: Message = {
                "type": "message",
                "subtype": "bot_message",
                "text": text,
                "ts": ws.next_ts(),
                "bot_id": bot_id,
                "username": username,
                "icons": {},
            }
            if thread_ts:
                message["thread_ts"] = thread_ts
            event = p.message_event(ch, ws.add_message(ch, message))
        self._send_envelope(self._envelope(event))
        return message["ts"]

    def click(
        self, user: str, channel: str, message_ts: str, action_id: str, value: str = "", block_id: str = "b"
    ) -> int | bool:
        """A person clicks a button on a message: a block_actions payload (form field `payload`)."""
        person, ch = self._user(user), self.workspace.channel(channel)
        with self.workspace.lock:
            message = self._existing(ch, message_ts)
            response_url = self._response_url_for(kind="block_actions", channel=ch.id, user=user, message_ts=message_ts)
            payload = p.block_actions(
                self.workspace,
                self.verification_token,
                person,
                ch,
                public(message),
                action_id,
                value,
                block_id,
                response_url,
            )
            issue_trigger(self, payload["trigger_id"])
        return self._deliver("interactive", payload, {"payload": json.dumps(payload)}).result

    def submit_view(self, user: str, view_id: str, values: dict[str, dict[str, Any]]) -> Any:
        """A person presses Submit on a modal the app opened: a view_submission payload; returns the Delivery."""
        with self.workspace.lock:
            view = self.views[view_id]
            payload = submission(self.workspace, self.verification_token, self._user(user), view, values)
        return self._deliver("interactive", payload, {"payload": json.dumps(payload)})

    def interact(self, payload: dict[str, Any]) -> Delivery:
        """Deliver any interaction payload as given (an action, view or options request the app may not expect)."""
        return self._deliver("interactive", payload, {"payload": json.dumps(payload)})

    def slash(self, user: str, channel: str, command: str, text: str, **extra: str) -> dict[str, Any]:
        """A person runs a slash command; {"status", "body", "headers", "delivery"} of the app's immediate answer."""
        person, ch = self._user(user), self.workspace.channel(channel)
        origin = {"kind": "slash_commands", "channel": ch.id, "user": user}
        form = p.slash_form(
            self.workspace,
            self.verification_token,
            person,
            ch,
            command,
            text,
            self._response_url_for(**origin),
            **extra,
        )
        delivery = self._deliver("slash_commands", form, form)
        answer = delivery.response
        if delivery.result and answer:
            self._apply_response(origin, answer if isinstance(answer, dict) else {"text": str(answer)})
        status = delivery.status if delivery.mode == "http" else (200 if delivery.ack is not None else 0)
        return {"status": status, "body": answer, "headers": delivery.response_headers, "delivery": delivery}

    def verify_url(self, challenge: str | None = None) -> str:
        """Slack's url_verification request; the app's response body (it should be the challenge)."""
        payload = {
            "token": self.verification_token,
            "challenge": challenge or secrets.token_urlsafe(32),
            "type": "url_verification",
        }
        return self._post(
            "url_verification", payload, json.dumps(payload).encode(), "application/json"
        ).response_body.decode()
