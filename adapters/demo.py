"""`refdesk demo`: a complete desk on one machine, for trying refdesk in minutes.

Starts a local Synapse (SQLite, 127.0.0.1), creates the bot, a librarian and a
staff room, maps the `general` queue to it, and runs web + worker on SQLite.
Everything lives in one data folder, so a second run picks up where it stopped.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
from pathlib import Path

from werkzeug.security import generate_password_hash

from adapters import logging_setup
from adapters.bootstrap import bootstrap
from adapters.cli import serve_http, wait_for_signal
from adapters.cli_database import write_demo_env
from adapters.settings import Settings
from adapters.synapse_local import LocalSynapse
from adapters.worker import Worker
from router import admins
from router.model import Backend, Queue

log = logging.getLogger(__name__)
QUIET_LEVEL = "WARNING"  # the demo's default log level: problems only, so the logins above stay readable


def _load_state(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    state = {
        "bot_password": secrets.token_urlsafe(16),
        "librarian_password": secrets.token_urlsafe(9),
        "admin_password": secrets.token_urlsafe(12),
    }
    path.write_text(json.dumps(state, indent=2))
    path.chmod(0o600)
    return state


def run_demo(data_dir: str, port: int, synapse_port: int) -> None:
    data = Path(data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    state_file = data / "demo.json"
    state = _load_state(state_file)

    synapse = LocalSynapse(data / "synapse", port=synapse_port)
    print(f"Starting Synapse in {data / 'synapse'} …", flush=True)
    synapse.start()
    try:
        bot = synapse.register("refdesk", state["bot_password"], admin=True, displayname="refdesk")
        librarian = synapse.register("librarian", state["librarian_password"], displayname="Demo Librarian")
        synapse.override_ratelimit(bot["access_token"], bot["user_id"])
        if "room_id" not in state:
            state["room_id"] = synapse.create_room(bot["access_token"], "Reference desk", invite=[librarian["user_id"]])
            synapse.join(librarian["access_token"], state["room_id"])
            state_file.write_text(json.dumps(state, indent=2))

        settings = Settings(
            database_url=f"sqlite:///{data / 'refdesk.db'}",
            public_url=f"http://127.0.0.1:{port}",
            matrix_homeserver=synapse.base_url,
            matrix_user_id=bot["user_id"],
            matrix_password=state["bot_password"],
        )
        logging_setup.configure_from(settings, QUIET_LEVEL)  # unless REFDESK_LOG_LEVEL says: the banner stays in view
        container = bootstrap(settings, migrate=True)
        env_file = write_demo_env(  # `refdesk queue …` in another shell acts on this desk (adapters.cli_database)
            data,
            {"REFDESK_DATABASE_URL": settings.database_url, "REFDESK_PUBLIC_URL": settings.public_url},
            bin_dir=str(Path(sys.executable).parent),
        )
        with container.desk.uow() as uow:
            if uow.queues.get("general") is None:  # a second run keeps what was changed in the admin
                uow.queues.add(Queue("general", "General reference", Backend.MATRIX, state["room_id"]))
            uow.commit()
        state.setdefault("admin_password", secrets.token_urlsafe(12))  # demo folders from before the admin
        state_file.write_text(json.dumps(state, indent=2))
        admins.create(container.desk, "admin", state["admin_password"], "admin", generate_password_hash, replace=True)
        serve_http(container, "127.0.0.1", port)
        worker = Worker(container)
        worker.start()
        print(
            "\nrefdesk demo is running.\n"
            f"  Patron page:     http://127.0.0.1:{port}/chat/general\n"
            f"  Chat widget:     http://127.0.0.1:{port}/widget/frame?queue=general\n"
            f"  Homeserver:      {synapse.base_url}  (use it in Element, nheko, … as a custom homeserver)\n"
            f"  Librarian login: {librarian['user_id']}  password: {state['librarian_password']}\n"
            f"  Staff room:      'Reference desk' ({state['room_id']})\n"
            f"  Web admin:       http://127.0.0.1:{port}/admin/  user: admin  password: {state['admin_password']}\n"
            f"  These logins are also in {state_file}.\n"
            "Type !on in the room to go on duty (the widget offers live chat only then);\n"
            "claim a chat with ✋ on its thread root or !claim in the thread; answer in the thread;\n"
            "start a line with // for a note the patron never sees. Ctrl-C stops everything.\n"
            f"Manage this desk from another shell in this folder: `refdesk queue list` (or `. {env_file}` first).\n",
            flush=True,
        )
        wait_for_signal()
        print("Stopping …", flush=True)
        worker.stop()
        container.close()
    finally:
        synapse.stop()
