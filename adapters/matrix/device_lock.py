"""Exactly one worker uses the bot's Matrix device at a time.

Encryption state must never fork: two workers with the same Olm account would each advance their
own ratchets and publish their own one-time keys, and librarians' clients would see "unable to
decrypt". So one worker holds the device (syncs, decrypts, sends) and the others wait to take over.

- PostgreSQL: a session-level advisory lock on a connection of its own. It goes with the
  connection, so a killed worker's lock is gone as soon as PostgreSQL notices the closed socket,
  and a waiting worker (trying every `TAKEOVER_SECONDS`) takes over within seconds. The holder
  checks its connection as often: if it broke, it stops using the device before anyone else can
  have taken it for long (and adapters.matrix.crypto_state refuses its saves once someone has).
- SQLite: an exclusive `flock` on a file beside the database, released by the kernel when the
  process dies. SQLite deployments are one machine; the lock also keeps a second worker started
  by mistake from forking the device.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)
TAKEOVER_SECONDS = 1.0  # how often a waiting worker tries the lock, and the holder checks it still has it


def lock_name(homeserver: str, user_id: str) -> str:
    """Per bot and homeserver; the SQL adds the schema (advisory locks are per database, not per schema)."""
    return f"refdesk.matrix.device.{homeserver.rstrip('/')}.{user_id}"


class DeviceLock:
    def __init__(self, engine: sa.Engine, homeserver: str, user_id: str):
        self.engine, self.name = engine, lock_name(homeserver, user_id)
        self._connection: Any = None
        self._file: Any = None

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never waits."""
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            return self._try_postgres()
        return self._try_file()

    def _try_postgres(self) -> bool:
        connection = self.engine.connect()
        connection.detach()  # closing it must close the session (and free the lock), not pool it
        try:
            got = connection.execute(
                sa.text("SELECT pg_try_advisory_lock(hashtext(current_schema() || :name))"), {"name": self.name}
            ).scalar()
            connection.commit()
        except Exception:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def _try_file(self) -> bool:
        database = self.engine.url.database
        folder = os.path.dirname(os.path.abspath(database)) if database and database != ":memory:" else None
        bot = hashlib.sha256(self.name.encode()).hexdigest()[:12]
        path = os.path.join(
            folder or tempfile.gettempdir(), f".{os.path.basename(database or 'memory')}.{bot}.matrix-lock"
        )
        file = open(path, "a+b")  # noqa: SIM115 - held open for as long as the lock
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            file.close()
            return False
        self._file = file
        return True

    def still_held(self) -> bool:
        """False when the lock's connection broke (PostgreSQL released the lock with it)."""
        if self._connection is None:
            return self._file is not None
        try:
            self._connection.execute(sa.select(1))  # a live session keeps its advisory lock
            self._connection.commit()
        except Exception as exc:  # noqa: BLE001 - a broken connection means a lost lock
            log.warning("matrix: lost the device lock's database connection: %s", exc)
            self.release()
            return False
        return True

    def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.execute(
                    sa.text("SELECT pg_advisory_unlock(hashtext(current_schema() || :name))"), {"name": self.name}
                )
                self._connection.commit()
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
