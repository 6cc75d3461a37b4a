"""The bot's end-to-end encryption state (Olm account, Olm and Megolm sessions, device keys), kept in the database.

matrix-nio keeps that state in a local SQLite file (its `SqliteStore`, one file per device). A
worker's disk is not where its successor looks, so the file is only a working copy: its bytes are
restored from the database before the client loads it, and saved back (zlib, base64, in `kv`) after
every change that matters: after each /sync response, before the next request acknowledges the
to-device messages that carried room keys, and after each encrypted send. SQLite's `data_version`
tells cheaply whether nio wrote anything since the last save, so a quiet desk writes nothing.

Only the worker holding the device (adapters.matrix.device_lock) may save, and the save checks it
in the same transaction (`holder`): a worker that lost the lock without noticing yet cannot
overwrite its successor's newer state. Why the whole file and not a custom store: docs/decisions.md.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import inspect
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import zlib
from functools import wraps
from typing import Any

from adapters.matrix.e2ee_support import E2EE_MISSING  # noqa: F401 - re-exported for the bridge
from router.journal import Desk

log = logging.getLogger(__name__)

try:  # matrix-nio's `e2e` extra: vodozemac, peewee
    from nio.crypto import ENCRYPTION_ENABLED as E2EE_AVAILABLE
    from nio.store import SqliteStore
except ImportError:  # pragma: no cover - nio itself is a dependency
    E2EE_AVAILABLE, SqliteStore = False, None

# nio's stores bind peewee's model classes (process-wide) to their database for each call and unbind
# them after: two stores used from two threads of one process would unbind each other's mid-query
# ("Query must be bound to a database"). One store per worker never meets another, but a test runs a
# librarian's encrypting client beside the bot. So every store call holds this lock.
STORE_LOCK = threading.RLock()


def serialised(store_class: Any) -> Any:
    """`store_class` with every method holding STORE_LOCK."""

    def locked(method: Any) -> Any:
        @wraps(method)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with STORE_LOCK:
                return method(*args, **kwargs)

        return inner

    names = {name for klass in store_class.__mro__ for name, value in vars(klass).items() if inspect.isfunction(value)}
    methods = {name: locked(getattr(store_class, name)) for name in names if not name.startswith("__")}
    methods["__init__"] = locked(store_class.__init__)
    return type(f"Serialised{store_class.__name__}", (store_class,), methods)


def skipping_empty_saves(store_class: Any) -> Any:
    """`store_class` without the store transaction nio opens after every /sync to save no encrypted room.

    nio calls `save_encrypted_rooms` with the rooms a response found encrypted, an empty set for almost
    every response; the store still opens a transaction and reads its account (peewee binding the models
    under STORE_LOCK), 2-3 ms of the sync loop per response on the bench machine, before the response's
    replies reach their lanes."""

    class SkippingEmptySaves(store_class):  # type: ignore[misc, valid-type]
        def save_encrypted_rooms(self, rooms: Any) -> None:
            if rooms:
                super().save_encrypted_rooms(rooms)

    return SkippingEmptySaves


Store = serialised(skipping_empty_saves(SqliteStore)) if E2EE_AVAILABLE else None


class DeviceLost(Exception):
    """Another worker took the Matrix device over: this one must stop using it at once."""


def state_key(user_id: str) -> str:
    return f"matrix.crypto.{user_id}"


def holder_key(user_id: str) -> str:
    return f"matrix.device_holder.{user_id}"


def store_file_name(user_id: str, device_id: str) -> str:
    """nio's default name for a device's store file (MatrixStore.database_name)."""
    return f"{user_id}_{device_id}.db"


class CryptoState:
    """The local working copy of nio's store and its saves to the database."""

    def __init__(self, desk: Desk, user_id: str, holder: str):
        self.desk, self.user_id, self.holder = desk, user_id, holder
        self.path = tempfile.mkdtemp(prefix="refdesk-matrix-")
        self.device_id = ""
        self._lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._version: int | None = None
        self._digest = ""

    def take_over(self) -> None:
        """Claim the state for this worker and put the saved store file where nio will open it."""
        with self.desk.uow() as uow:
            uow.kv.lock(holder_key(self.user_id))
            uow.kv.set(holder_key(self.user_id), self.holder)
            saved = json.loads(uow.kv.get(state_key(self.user_id)) or "null")
            uow.commit()
        if not saved:
            return
        data = zlib.decompress(base64.b64decode(saved["store"]))
        with open(os.path.join(self.path, store_file_name(self.user_id, saved["device_id"])), "wb") as file:
            file.write(data)
        self._digest = hashlib.sha256(data).hexdigest()
        log.info("matrix: restored the encryption state of device %s (%d bytes)", saved["device_id"], len(data))

    def opened(self, device_id: str) -> None:
        """nio has loaded (or created) the store of `device_id`: from now on, `save` copies that file."""
        self.device_id = device_id
        file = os.path.join(self.path, store_file_name(self.user_id, device_id))
        self._reader = sqlite3.connect(file, check_same_thread=False, isolation_level=None)
        self._version = None

    def save(self) -> bool:
        """Copy the store to the database if nio changed it since the last save; True when it wrote."""
        if self._reader is None:
            return False
        with self._lock:
            version = self._reader.execute("PRAGMA data_version").fetchone()[0]
            if version == self._version:
                return False
            data = self._reader.serialize()  # a consistent copy, even while nio writes
            digest = hashlib.sha256(data).hexdigest()
            if digest == self._digest:
                self._version = version
                return False
            value = json.dumps({"device_id": self.device_id, "store": base64.b64encode(zlib.compress(data)).decode()})
            with self.desk.uow() as uow:
                uow.kv.lock(holder_key(self.user_id))
                if uow.kv.get(holder_key(self.user_id)) != self.holder:
                    raise DeviceLost("another worker holds the Matrix device now")
                uow.kv.set(state_key(self.user_id), value)
                uow.commit()
            self._version, self._digest = version, digest
            return True

    def close(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(sqlite3.Error):
                self._reader.close()
            self._reader = None
        shutil.rmtree(self.path, ignore_errors=True)
