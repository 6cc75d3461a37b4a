"""A Slack Web API + Events API + Socket Mode emulator for tests, built from Slack's documented payloads.

    with SlackEmulator() as slack:                      # binds 127.0.0.1 only (HTTP + WebSocket, free ports)
        slack.add_channel("C0DESK", "reference-desk")   # bot_is_member=False -> not_in_channel
        slack.add_user("U0ALICE", name="alice", real_name="Alice")
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        slack.events_url = "http://127.0.0.1:PORT/slack/events"   # HTTP mode (default): signed POSTs
        # or: slack.mode = "socket" and the app connects with SocketModeClient(app_token=slack.app_token, ...)
        ts = slack.staff_posts("U0ALICE", "C0DESK", "hello", thread_ts=root)

Web API (Bearer or `token` param; not_authed / invalid_auth / not_allowed_token_type): auth.test,
apps.connections.open (app token), chat.postMessage (a token bucket per channel, 1/s burst 3, and one for the
workspace, 300/min burst 30: over either -> 429 + Retry-After in whole seconds, body {"ok": false, "error":
"ratelimited"}, nothing stored, recorded in `rate_limited`; a file shared into a channel counts too),
chat.update, chat.delete, chat.postEphemeral,
conversations.info/.history/.replies (include_all_metadata, limit/cursor), users.info,
files.getUploadURLExternal + upload URL + files.completeUploadExternal (files_upload_v2), files.info, views.open
(trigger_id from a click, once, 3 s); url_private
downloads need the bot token (without it: Slack's sign-in page, HTML, status 200).
`fail_next(method, error=..., http_status=..., drop=..., delay=..., store=..., times=...)` injects failures.

Acting as people: staff_posts (broadcast=True: thread_broadcast), staff_edits (message_changed), staff_deletes
(message_deleted), staff_shares_file (file_share), bot_posts (bot_message), click (block_actions + response_url),
submit_view (view_submission to a modal the app opened with views.open), slash (slash command; returns the
app's answer), verify_url (url_verification), deliver_event / redeliver, replay (any delivery again),
interact (any interaction payload).
Each delivery is a `Delivery` in `deliveries` / `last_delivery` (`.result`: HTTP status or acked-bool).

Inspection: messages(), thread(), message(), calls, ephemerals, deleted, responses, downloads, acks, views.
echo_bot_events=True also sends the app's own posts/edits/deletes back as events (wait_idle() to drain).
"""

from .delivery import Delivery
from .emulator import SlackEmulator
from .payloads import sign

__all__ = ["Delivery", "SlackEmulator", "sign"]
