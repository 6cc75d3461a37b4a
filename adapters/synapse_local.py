"""A real Synapse homeserver on 127.0.0.1, for the demo and the end-to-end tests.

Faking the Matrix client-server API would only prove that the fake agrees with
us, so the demo and the e2e suite run the genuine Synapse, as a subprocess,
backed by SQLite in one directory. This module uses the standard library only:
the configuration is written as JSON (which is valid YAML, so Synapse reads it
as-is) and the few API calls go through urllib.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Synapse's defaults are tuned for people on a public server; a relay bot and a
# test suite that creates a room per test would trip them within seconds.
_GENEROUS = {"per_second": 1000, "burst_count": 1000}
# Every limiter in synapse/config/ratelimiting.py (1.163) that takes {per_second, burst_count}.
_FLAT_LIMITS = "message registration registration_token_validity admin_redaction joins_per_room 3pid_validation"
_FLAT_LIMITS += " third_party_invite media_create delayed_event_mgmt room_creation reports user_directory profile"
_NESTED_LIMITS = {
    "login": ["address", "account", "failed_attempts"],
    "joins": ["local", "remote"],
    "invites": ["per_room", "per_user", "per_issuer"],
    "presence": ["per_user"],
}
_RATE_LIMITS: dict[str, Any] = {f"rc_{name}": _GENEROUS for name in _FLAT_LIMITS.split()} | {
    f"rc_{name}": dict.fromkeys(parts, _GENEROUS) for name, parts in _NESTED_LIMITS.items()
}


class MatrixHTTPError(RuntimeError):
    """A non-2xx answer from the homeserver; `errcode` is the Matrix error code (e.g. M_USER_IN_USE)."""

    def __init__(self, status: int, errcode: str, message: str) -> None:
        super().__init__(f"HTTP {status} {errcode or '(no errcode)'}: {message}")
        self.status = status
        self.errcode = errcode


def _free_port() -> int:
    """Ask the kernel for an unused port (it stays ours only until Synapse binds it, which is soon enough)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session(response: dict[str, Any]) -> dict[str, str]:
    return {key: response[key] for key in ("user_id", "access_token", "device_id")}


class LocalSynapse:
    """A throwaway or persistent Synapse on 127.0.0.1, backed by SQLite in `data_dir`.

    The first start writes the config (with a random shared registration secret)
    and a signing key; later starts reuse both, plus the port and the accounts,
    so the demo's links and logins survive a restart. If a config already exists
    its port wins over the `port` argument.
    """

    def __init__(
        self, data_dir: Path, port: int | None = None, server_name: str = "localhost", python: str = sys.executable
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.config_path = self.data_dir / "homeserver.yaml"
        self.server_name = server_name
        self.python = python
        self._requested_port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._config: dict[str, Any] = {}

    @property
    def port(self) -> int:
        if not self._config:
            raise RuntimeError("LocalSynapse.start() has not been called")
        return self._config["listeners"][0]["port"]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self.server_name}"

    # -- lifecycle -----------------------------------------------------------------

    def _synapse(self, *args: str) -> list[str]:
        return [self.python, "-m", "synapse.app.homeserver", "-c", str(self.config_path), *args]

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_config = self.data_dir / "log.config"
        log_file = str(self.data_dir / "homeserver.log")
        handler = {"class": "logging.FileHandler", "formatter": "plain", "filename": log_file}
        formatter = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
        logging = {"version": 1, "formatters": {"plain": formatter}, "handlers": {"file": handler}}
        logging |= {"root": {"level": "WARNING", "handlers": ["file"]}, "disable_existing_loggers": False}
        log_config.write_text(json.dumps(logging, indent=2))
        config = {
            "server_name": self.server_name,
            "pid_file": str(self.data_dir / "homeserver.pid"),
            "listeners": [
                {
                    "port": self._requested_port or _free_port(),
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    # "client" also serves /_synapse/admin, which register() needs.
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(self.data_dir / "homeserver.db")}},
            "log_config": str(log_config),
            "media_store_path": str(self.data_dir / "media_store"),
            "signing_key_path": str(self.data_dir / "signing.key"),
            "registration_shared_secret": secrets.token_urlsafe(32),
            "macaroon_secret_key": secrets.token_urlsafe(32),
            "form_secret": secrets.token_urlsafe(32),
            "report_stats": False,
            "enable_registration": False,
            "enable_metrics": False,
            # Nothing here talks to other servers: no key servers, no federation, no link previews.
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],
            "url_preview_enabled": False,
            "presence": {"enabled": False},
            "bcrypt_rounds": 4,  # password hashing cost is irrelevant here; logins should be fast
            **_RATE_LIMITS,
        }
        self.config_path.write_text(json.dumps(config, indent=2))
        if self._write_signing_key(Path(config["signing_key_path"])):
            return
        result = subprocess.run(self._synapse("--generate-keys"), capture_output=True, cwd=self.data_dir)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")
            raise RuntimeError(f"Synapse could not generate its signing key:\n{output[-3000:]}")

    def _write_signing_key(self, path: Path) -> bool:
        """Write the signing key as `--generate-keys` would (the only file it makes for this config), in this
        process when Synapse runs on this interpreter: a second Synapse start-up just for the key costs seconds
        of CPU (more than the server's own start), once per test worker. False: let Synapse do it."""
        if self.python != sys.executable:
            return False
        try:
            from signedjson.key import generate_signing_key, write_signing_keys
        except ImportError:
            return False
        with path.open("w") as stream:
            write_signing_keys(stream, [generate_signing_key("a_" + secrets.token_hex(2))])
        return True

    def start(self, timeout: float = 90) -> None:
        """Start the homeserver (writing its config on first use) and wait until the client API answers."""
        if self._process is not None and self._process.poll() is None:
            return
        if not self.config_path.exists():
            self._write_config()
        self._config = json.loads(self.config_path.read_text())
        with open(self.data_dir / "synapse.out", "ab") as output:  # the child keeps its own copy of the fd
            self._process = subprocess.Popen(
                self._synapse(),
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,  # Ctrl-C reaches us, and we stop Synapse in order
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code, self._process = self._process.returncode, None
                raise RuntimeError(f"Synapse exited with status {code} while starting:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/_matrix/client/versions", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:  # not listening yet (URLError and HTTPError are OSErrors too)
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Synapse did not answer within {timeout} s:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 30) -> str:
        parts = []
        for name in ("synapse.out", "homeserver.log"):
            path = self.data_dir / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {name} ---\n" + "\n".join(tail))
        return "\n".join(parts) or "(no log output)"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s. Safe to call twice or before start()."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def __enter__(self) -> LocalSynapse:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- client-server and admin API -----------------------------------------------

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
        """One JSON request; failures become MatrixHTTPError so callers can branch on the errcode."""
        request = urllib.request.Request(
            self.base_url + path, data=None if body is None else json.dumps(body).encode(), method=method
        )
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read() or b"{}")
            except ValueError:
                error = {}
            raise MatrixHTTPError(exc.code, error.get("errcode", ""), error.get("error", str(exc.reason))) from None

    def register(
        self, localpart: str, password: str, *, admin: bool = False, displayname: str | None = None
    ) -> dict[str, str]:
        """Create a user through shared-secret registration, or log in if it already exists.

        Open registration stays off, so nobody else can sign up on the demo
        server; the HMAC proves the caller can read the config. Being idempotent
        lets a restarted demo (same data_dir) run the same setup code again.
        """
        nonce = self._request("GET", "/_synapse/admin/v1/register")["nonce"]
        message = b"\x00".join(
            [nonce.encode(), localpart.encode(), password.encode(), b"admin" if admin else b"notadmin"]
        )
        secret = self._config["registration_shared_secret"].encode()
        mac = hmac.new(secret, message, hashlib.sha1).hexdigest()
        body = {"nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": mac}
        try:
            session = _session(self._request("POST", "/_synapse/admin/v1/register", body))
        except MatrixHTTPError as exc:
            if exc.errcode != "M_USER_IN_USE":
                raise
            session = self.login(localpart, password)
        if displayname is not None:
            user = urllib.parse.quote(session["user_id"], safe="")
            path = f"/_matrix/client/v3/profile/{user}/displayname"
            self._request("PUT", path, {"displayname": displayname}, session["access_token"])
        return session

    def login(self, localpart: str, password: str) -> dict[str, str]:
        """Password login; each call makes a new device and access token."""
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": localpart},
            "password": password,
        }
        return _session(self._request("POST", "/_matrix/client/v3/login", body))

    def create_room(self, access_token: str, name: str, invite: Iterable[str] = ()) -> str:
        """Create a private, invite-only room and return its id.

        Unencrypted, so the demo and most tests read it with a plain client; tests of encrypted rooms
        turn encryption on themselves (tests/e2e/test_encrypted_rooms.py).
        """
        body = {"name": name, "preset": "private_chat", "visibility": "private", "invite": list(invite)}
        return self._request("POST", "/_matrix/client/v3/createRoom", body, access_token)["room_id"]

    def join(self, access_token: str, room_id: str) -> None:
        """Join (or accept an invite to) a room."""
        self._request("POST", f"/_matrix/client/v3/join/{urllib.parse.quote(room_id, safe='')}", {}, access_token)

    def leave(self, access_token: str, room_id: str) -> None:
        """Leave a room (its later syncs no longer include it)."""
        path = f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id, safe='')}/leave"
        self._request("POST", path, {}, access_token)

    def override_ratelimit(self, admin_token: str, user_id: str) -> None:
        """Exempt a user (the relay bot) from message rate limits, as a real operator would for a bot."""
        path = f"/_synapse/admin/v1/users/{urllib.parse.quote(user_id, safe='')}/override_ratelimit"
        self._request("POST", path, {"messages_per_second": 0, "burst_count": 0}, admin_token)
