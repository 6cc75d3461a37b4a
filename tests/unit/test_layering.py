"""router/ stays free of web, chat and database frameworks (checked in a fresh interpreter)."""

import pkgutil
import subprocess
import sys

import router

FORBIDDEN = ["flask", "werkzeug", "slack_bolt", "slack_sdk", "nio", "sqlalchemy", "sqlmodel", "psycopg", "aiohttp"]


def test_router_imports_no_framework():
    modules = [f"router.{m.name}" for m in pkgutil.iter_modules(router.__path__)]
    assert {"router.conversations", "router.staff", "router.journal", "router.delivery"} <= set(modules)
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + (f"print(','.join(sorted(n for n in {FORBIDDEN!r} if n in sys.modules)))")
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
