"""Which database a `refdesk` command talks to, and whether it is ready for it.

Two first-use traps live here. After `make demo`, the desk's database is `.demo/refdesk.db`, not the
default `refdesk.db`, so `refdesk queue …` would manage a different, empty desk: the demo writes
`.demo/env` (to source) and the CLI reads it by itself when no database is configured. And a command
run against a database that was never migrated would fail with a stack trace deep in SQLAlchemy (and
SQLite would leave an empty `refdesk.db` behind): it is refused up front with the command that fixes it.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from adapters.settings import Settings
from adapters.storage.migrate import alembic_config
from adapters.storage.sql import normalise_url

DEMO_DIR = Path(".demo")
DEMO_ENV = "env"
DATABASE_VARIABLES = ("REFDESK_DATABASE_URL", "DATABASE_URL")
UPGRADE_HINT = "run `refdesk db upgrade` first"


def write_demo_env(data_dir: Path, values: dict[str, str], bin_dir: str | None = None) -> Path:
    """`.demo/env`: `. .demo/env` in another shell points `refdesk …` at the demo's desk (owner-only: a password)."""
    lines = [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    if bin_dir:
        lines.append(f'export PATH={shlex.quote(bin_dir)}:"$PATH"')
    path = data_dir / DEMO_ENV
    path.write_text("# written by `refdesk demo`: source it to manage the demo desk from the CLI\n" + "\n".join(lines))
    path.chmod(0o600)
    return path


def read_demo_env(path: Path) -> dict[str, str]:
    """The `export NAME=VALUE` lines of a demo env file (PATH left out: the CLI is already running)."""
    values = {}
    for line in path.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        if name.startswith("REFDESK_") and value:
            values[name] = shlex.split(value)[0]
    return values


def use_demo_database(environ: dict[str, str] | None = None, cwd: Path | None = None) -> str | None:
    """No database configured and a demo here: use the demo's settings. Returns the env file used, if any."""
    environ = os.environ if environ is None else environ
    demo_env = (cwd or Path.cwd()) / DEMO_DIR / DEMO_ENV
    if any(environ.get(name) for name in DATABASE_VARIABLES) or not demo_env.is_file():
        return None
    for name, value in read_demo_env(demo_env).items():
        environ.setdefault(name, value)
    return str(demo_env)


def migration_problem(settings: Settings) -> str | None:
    """Why this database cannot be used yet (None when it is at the latest revision); creates nothing."""
    path = settings.sqlite_path
    if path and not Path(path).exists():
        return f"there is no database at {path}: {UPGRADE_HINT} (after `make demo`: `. .demo/env`)"
    engine = sa.create_engine(normalise_url(settings.database_url), hide_parameters=True)  # no pragmas: reads only
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except sa.exc.SQLAlchemyError as exc:
        return f"cannot open the database ({exc.__class__.__name__}: {str(exc).splitlines()[0]})"
    finally:
        engine.dispose()
    head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
    if current is None:
        return f"the database has no refdesk tables yet: {UPGRADE_HINT}"
    if current != head:
        return f"the database is at revision {current}, this refdesk needs {head}: {UPGRADE_HINT}"
    return None


def require_migrated(settings: Settings) -> None:
    problem = migration_problem(settings)
    if problem:
        sys.exit(f"refdesk: {problem}")
