"""The two ways refdesk is run, started for the relay benchmark as an operator would start them.

- production: the Procfile's `web` line (gunicorn, gevent worker class, its flags as written) and its
  `worker` line (`refdesk worker`), each its own process, on a throwaway PostgreSQL database
  (created for the run, `refdesk db upgrade`, dropped afterwards), the PostgreSQL notifier (the
  default for a PostgreSQL URL) and the rate-limit counters in Redis, as *Deploying* says.
- embedded: `refdesk serve --with-worker`, the one process the README offers a small desk, on a
  SQLite file with `REFDESK_NOTIFIER` left at `auto` (in one process: in-process wake-ups plus the
  SQLite file watch).

Both are configured only through environment variables and the `refdesk` command, and both run this
checkout's code (PYTHONPATH), so the benchmark measures what an operator would deploy from it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's `refdesk` and `gunicorn`
POSTGRES_ADMIN_URL = os.environ.get("REFDESK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("REFDESK_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
START_SECONDS = 90.0

# The documented limits, raised as the operator of a busy desk would: the bench sends hundreds of messages
# a minute from one address into a few chats, which the defaults (rightly) refuse from an anonymous client.
BUSY_DESK_LIMITS = {
    "REFDESK_RATE_LIMIT_ADDRESS": "100000/minute",
    "REFDESK_RATE_LIMIT_NEW_CHATS_PER_ADDRESS": "10000/minute",
    "REFDESK_RATE_LIMIT_NEW_CHATS_PER_QUEUE": "10000/minute",
    "REFDESK_RATE_LIMIT_MESSAGES_PER_CONVERSATION": "10000/minute",
    "REFDESK_QUEUE_WAITING_CAP": "0",
}


@dataclass
class Shape:
    """One running refdesk: where patrons reach it, its staff room, and how to take it all down."""

    name: str
    description: str
    base_url: str
    staff_room: str
    database_url: str
    logs: list[Path] = field(default_factory=list)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    cleanups: list[Callable[[], Any]] = field(default_factory=list)

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def stop(self) -> None:
        """Stop the processes, then drop what was made for the run (database, Redis keys)."""
        self.stop_processes()
        for cleanup in reversed(self.cleanups):
            cleanup()
        self.cleanups.clear()

    def stop_processes(self) -> None:
        """SIGTERM every process (as honcho would), SIGKILL what outlives 15 s."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for process in self.processes.values():  # gunicorn's own workers, should any be left
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()


def procfile_command(name: str) -> str:
    """The Procfile's command line for process `name`, exactly as honcho would hand it to a shell."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise LookupError(f"no {name!r} process in the Procfile")


def operator_environment(matrix: dict[str, str], database_url: str, **settings: str) -> dict[str, str]:
    """Settings as environment variables; no REFDESK_* of the caller's leaks in."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("REFDESK_", "PYTHON", "VIRTUAL_ENV"))}
    return inherited | {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),  # this checkout's code, not what the venv may have installed
        "PYTHONUNBUFFERED": "1",
        "REFDESK_DATABASE_URL": database_url,
        "REFDESK_MATRIX_HOMESERVER": matrix["homeserver"],
        "REFDESK_MATRIX_USER_ID": matrix["user_id"],
        "REFDESK_MATRIX_PASSWORD": matrix["password"],
        "REFDESK_LOG_LEVEL": "WARNING",
        **BUSY_DESK_LIMITS,
        **settings,
    }


def refdesk(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [str(BIN / "refdesk"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"refdesk {' '.join(args)} failed: {result.stderr[-2000:]}")


def spawn(shape: Shape, name: str, command: str, env: dict[str, str], workdir: Path) -> None:
    """Run `command` through a shell as honcho does, in its own session so nothing it forks is left."""
    log = workdir / f"{shape.name}-{name}.log"
    with log.open("w") as output:
        shape.processes[name] = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=ROOT,  # gunicorn reads gunicorn.conf.py from here, as from a deployment's directory
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    shape.logs.append(log)


def wait_until_ready(shape: Shape, bot_user_id: str) -> None:
    """Web answers /healthz and the worker finished its first Matrix sync (it stamps that in the database)."""
    engine = sa.create_engine(shape.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    deadline = time.monotonic() + START_SECONDS
    try:
        while time.monotonic() < deadline:
            for name, process in shape.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{shape.name} {name} exited:\n{tail(shape.logs)}")
            if healthy(shape.base_url) and synced(engine, bot_user_id):
                return
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise RuntimeError(f"{shape.name} not ready within {START_SECONDS:.0f}s:\n{tail(shape.logs)}")


def healthy(base_url: str) -> bool:
    try:
        # Connection: close: an idle keep-alive probe would hold gunicorn (--keep-alive 75) at shutdown.
        return requests.get(f"{base_url}/healthz", timeout=2, headers={"Connection": "close"}).status_code == 200
    except requests.RequestException:
        return False


def synced(engine: sa.Engine, bot_user_id: str) -> bool:
    try:
        with engine.connect() as connection:
            query = sa.text("SELECT 1 FROM kv WHERE key = :key")
            return connection.execute(query, {"key": f"matrix.synced_at.{bot_user_id}"}).first() is not None
    except sa.exc.SQLAlchemyError:
        return False  # not migrated yet (embedded migrates at start)


def tail(logs: list[Path], lines: int = 20) -> str:
    return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-lines:]) for log in logs)


# -- PostgreSQL and Redis, made for one run -------------------------------------------


def create_database() -> tuple[str, Callable[[], None]]:
    """A throwaway database on the bench's PostgreSQL server; returns its URL and how to drop it."""
    import psycopg

    name = f"refdesk_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    return f"{base}/{name}", drop


def redis_prefix() -> tuple[str | None, Callable[[], None]]:
    """A fresh key prefix in the bench's Redis for the shared rate-limit counters (None: no Redis answers)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        return None, lambda: None
    prefix = f"refdesk-bench-{uuid.uuid4().hex[:10]}"

    def forget() -> None:
        for key in client.scan_iter(match=f"*{prefix}*", count=500):
            client.delete(key)
        client.close()

    return prefix, forget


# -- the two shapes -------------------------------------------------------------------


def start_production(matrix: dict[str, str], staff_room: str, workdir: Path, extra: dict[str, str]) -> Shape:
    database_url, drop = create_database()
    prefix, forget = redis_prefix()
    limits = {"REFDESK_RATE_LIMIT_STORAGE": REDIS_URL, "REFDESK_RATE_LIMIT_PREFIX": prefix} if prefix else {}
    port = free_port()
    env = operator_environment(matrix, database_url, BIND=f"127.0.0.1:{port}", **limits, **extra)
    web, worker = procfile_command("web"), procfile_command("worker")
    counters = f"Redis ({REDIS_URL.rsplit('@', 1)[-1]})" if prefix else "memory (no Redis answered)"
    shape = Shape(
        "production",
        f"Procfile `web` ({shlex.split(web)[1]} {' '.join(shlex.split(web)[2:12])} …) + `{worker.split(' ', 1)[1]}`,"
        f" separate processes; PostgreSQL (throwaway database), PostgreSQL notifier; rate-limit counters in {counters}",
        f"http://127.0.0.1:{port}",
        staff_room,
        database_url,
        cleanups=[drop, forget],
    )
    try:
        refdesk(env, "db", "upgrade")
        refdesk(env, "queue", "add", "general", "--name", "General", "--backend", "matrix", "--room", staff_room)
        spawn(shape, "web", web, env, workdir)
        spawn(shape, "worker", worker, env, workdir)
        wait_until_ready(shape, matrix["user_id"])
    except BaseException:
        shape.stop()
        raise
    return shape


def start_embedded(matrix: dict[str, str], staff_room: str, workdir: Path, extra: dict[str, str]) -> Shape:
    database_url = f"sqlite:///{workdir / 'embedded.db'}"
    port = free_port()
    env = operator_environment(matrix, database_url, **extra)
    shape = Shape(
        "embedded",
        "`refdesk serve --with-worker` (werkzeug threaded + worker threads, one process); SQLite,"
        " `REFDESK_NOTIFIER=auto` (in-process wake-ups + SQLite file watch); rate-limit counters in memory",
        f"http://127.0.0.1:{port}",
        staff_room,
        database_url,
    )
    try:
        refdesk(env, "db", "upgrade")
        refdesk(env, "queue", "add", "general", "--name", "General", "--backend", "matrix", "--room", staff_room)
        spawn(shape, "serve", f"exec refdesk serve --with-worker --port {port}", env, workdir)
        wait_until_ready(shape, matrix["user_id"])
    except BaseException:
        shape.stop()
        raise
    return shape
