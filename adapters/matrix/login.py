"""The bot's Matrix session: one login per deployment, however many workers start at once.

Synapse deduplicates transaction ids per device. Two workers that each log in get two
devices, and an outbox item that a killed worker had sent is sent again by the other as
a new event. So the session is stored in the database and created under a lock held
across processes: the first worker logs in and stores it, the others wait for the lock
and reuse it. A stored session is replaced only when the homeserver says it is gone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from nio import AsyncClient, WhoamiError

from router.journal import Desk

Run = Callable[[Coroutine[Any, Any, Any]], Any]  # runs a coroutine on the client's loop, blocking
SESSION_GONE = {"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"}


def session_key(user_id: str) -> str:
    return f"matrix.session.{user_id}"


def sign_in(desk: Desk, client: AsyncClient, run: Run, user_id: str, password: str | None, device_name: str) -> None:
    """Reuse the stored session, or log in once and store it, while other workers wait on the lock."""
    key = session_key(user_id)
    with desk.uow() as uow:
        uow.kv.lock(key)
        stored = json.loads(uow.kv.get(key) or "null")
        if stored:
            client.restore_login(user_id, stored["device_id"], stored["access_token"])
            if _still_valid(client, run, can_log_in=bool(password)):
                return
        if not password:
            raise RuntimeError(f"Matrix needs a password to log {user_id} in")
        response = run(client.login(password=password, device_name=device_name))
        if not getattr(response, "access_token", None):
            raise RuntimeError(f"Matrix login failed for {user_id}: {getattr(response, 'message', response)}")
        session = {"device_id": response.device_id, "access_token": response.access_token}
        uow.kv.set(key, json.dumps(session))
        uow.commit()


def use_access_token(desk: Desk, client: AsyncClient, run: Run, user_id: str, access_token: str) -> None:
    """An operator-issued token: its device is whatever the homeserver says it is."""
    with desk.uow(read_only=True) as uow:
        stored = json.loads(uow.kv.get(session_key(user_id)) or "null")
    device_id = (stored or {}).get("device_id", "")
    if device_id:
        client.restore_login(user_id, device_id, access_token)
    else:  # nio would open an encryption store for no device; whoami tells the device first
        client.user_id, client.access_token = user_id, access_token
    _still_valid(client, run, can_log_in=False)


def _still_valid(client: AsyncClient, run: Run, can_log_in: bool) -> bool:
    """Ask the homeserver who we are; False only when the session is gone and a password can replace it.

    Any other failure (a 502 while the homeserver restarts) stops the start-up instead of
    logging in again, which would leave a second device behind.
    """
    whoami = run(client.whoami())
    if isinstance(whoami, WhoamiError):
        if can_log_in and str(whoami.status_code or "") in SESSION_GONE:
            client.access_token = ""
            return False
        raise RuntimeError(f"Matrix session for {client.user_id} not usable: {whoami.status_code} {whoami.message}")
    if whoami.device_id:
        client.device_id = whoami.device_id
    return True
