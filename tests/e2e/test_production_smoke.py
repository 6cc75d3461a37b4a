"""What is deployed is what is tested: a plain `pip install .` runs the Procfile against PostgreSQL and Synapse.

The venv has no extras and no editable install, the processes start from a directory outside the source
tree with no PYTHONPATH, so only what the package installs can be imported: a dependency that only the
dev extra pulled in, or a template or migration left out of the package data, fails here.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import private_postgres_schema
from tests.e2e.conftest import BOT_PASSWORD, Homeserver, free_port, staff_room, wait_until
from tests.e2e.librarian import in_thread, roots
from tests.e2e.production_install import ROOT, fresh_venv

# The first run on a machine downloads and builds the dependency wheels (minutes); later runs reuse them.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.synapse,
    pytest.mark.postgres,
    pytest.mark.production,
    pytest.mark.timeout(900),
]
PROCFILE = ROOT / "Procfile"


@pytest.fixture(scope="session")
def production_bin(tmp_path_factory) -> Path:
    """The bin directory of a venv built once per test run, as an operator installs refdesk."""
    return fresh_venv(tmp_path_factory.mktemp("production") / "venv")


def graceful_timeout() -> int:
    """The web process's `--graceful-timeout` in the Procfile: the time a clean stop may take."""
    web = next(line for line in PROCFILE.read_text().splitlines() if line.startswith("web:"))
    return int(shlex.split(web)[shlex.split(web).index("--graceful-timeout") + 1])


def operator_environment(bin_dir: Path, homeserver: Homeserver, database_url: str, port: int) -> dict[str, str]:
    """Only the installed venv on PATH; nothing of the test run's Python or refdesk settings leaks in."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("REFDESK_", "PYTHON", "VIRTUAL_ENV"))}
    return inherited | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONUNBUFFERED": "1",  # honcho's log reaches the file as it happens
        "BIND": f"127.0.0.1:{port}",
        "REFDESK_DATABASE_URL": database_url,
        "REFDESK_MATRIX_HOMESERVER": homeserver.server.base_url,
        "REFDESK_MATRIX_USER_ID": homeserver.bot_user_id,
        "REFDESK_MATRIX_PASSWORD": BOT_PASSWORD,
        "REFDESK_OUTBOX_POLL_SECONDS": "0.2",
    }


def refdesk(env: dict[str, str], cwd: Path, *args: str) -> str:
    result = subprocess.run(["refdesk", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"refdesk {' '.join(args)}: {result.stderr[-3000:]}"
    return result.stdout


def healthy(base_url: str) -> bool:
    try:
        # Connection: close — a probe that timed out while gunicorn booted would otherwise leave an idle
        # keep-alive connection (75 s) that gunicorn waits for at shutdown, past honcho's 5 s.
        return requests.get(f"{base_url}/healthz", timeout=2, headers={"Connection": "close"}).status_code == 200
    except requests.RequestException:
        return False


def started_pids(log: Path) -> dict[str, int]:
    """honcho prints `NAME started (pid=N)`; each such process leads its own session."""
    return {name: int(pid) for name, pid in re.findall(r"([\w.]+) started \(pid=(\d+)\)", log.read_text())}


def processes_in_sessions(leaders: set[int]) -> list[int]:
    """Live processes whose process group or session is led by one of `leaders`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # it ended while we looked
            if int(fields[2]) in leaders or int(fields[3]) in leaders:
                found.append(int(entry.name))
    return found


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """Where the operator runs honcho: the Procfile only, no source tree to import from."""
    directory = tmp_path / "site"
    directory.mkdir()
    (directory / "Procfile").write_text(PROCFILE.read_text())
    return directory


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    with private_postgres_schema() as url:
        yield url


def test_a_plain_install_runs_the_procfile_and_stops_cleanly(
    production_bin, postgres_schema, homeserver, librarian, run_dir
):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = operator_environment(production_bin, homeserver, postgres_schema, port)
    release = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert refdesk(env, run_dir, "--version").strip() == f"refdesk {release}"
    assert "up to date" in refdesk(env, run_dir, "db", "upgrade")
    room_id = staff_room(homeserver, "production-smoke")
    refdesk(env, run_dir, "queue", "add", "smoke", "--room", room_id)

    log = run_dir / "honcho.log"
    with log.open("w") as output:
        honcho = subprocess.Popen(
            ["honcho", "start", "web", "worker"],
            cwd=run_dir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: healthy(base_url) or honcho.poll() is not None, timeout=90)
        assert honcho.poll() is None, f"honcho stopped on its own:\n{log.read_text()}"
        librarian.skip_to_now()

        chat = requests.post(
            f"{base_url}/api/v1/conversations",
            json={"queue": "smoke", "page_url": "https://library.example/smoke"},
            headers={"Connection": "close"},  # no idle keep-alive connection left for shutdown to wait on
            timeout=10,
        ).json()
        headers = {"Authorization": f"Bearer {chat['token']}", "Connection": "close"}
        said = requests.post(
            f"{base_url}/api/v1/conversations/{chat['id']}/messages",
            json={"body": "is the production install working?", "client_id": "smoke-1"},
            headers=headers,
            timeout=10,
        )
        assert said.status_code == 201, said.text
        root = librarian.wait_for(lambda events: roots(events, room_id))[0]
        assert "/smoke" in root["content"]["body"] and root["sender"] == homeserver.bot_user_id
        thread = librarian.wait_for(lambda events: in_thread(events, root["event_id"]))
        assert "is the production install working?" in thread[0]["content"]["body"]
        librarian.reply_in_thread(room_id, root["event_id"], "yes, from gunicorn and the worker")

        def staff_replies() -> list[str]:
            url = f"{base_url}/api/v1/conversations/{chat['id']}/messages?after=0"
            listed = requests.get(url, headers=headers, timeout=10).json()["messages"]
            return [m["body"] for m in listed if m["author"] == "staff"]

        assert wait_until(staff_replies, timeout=30) == ["yes, from gunicorn and the worker"]
        children = set(started_pids(log).values())
        assert len(children) == 2, log.read_text()

        honcho.send_signal(signal.SIGTERM)
        returncode = honcho.wait(timeout=graceful_timeout())
    finally:
        if honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait()
    left_behind = processes_in_sessions(children | {honcho.pid})
    for pid in left_behind:
        os.kill(pid, signal.SIGKILL)
    output = log.read_text()
    assert left_behind == [], output
    assert returncode == 143, output  # honcho's exit code for SIGTERM
    assert re.search(r"web\.1 stopped \(rc=0\)", output) and re.search(r"worker\.1 stopped \(rc=0\)", output), output
    assert "SIGKILL" not in output, output
