"""The web process's garbage collector: thousands of open patron streams are long-lived objects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_container

ROOT = Path(__file__).resolve().parents[2]


def test_the_web_process_collects_its_young_objects_rarely(tmp_path):
    """At the default (every 700 allocations) each request's objects were caught alive while thousands of
    streams opened, promoted, and full collections of every open stream (0.3-0.6 s each at 10,000) ran
    every few seconds: bench/streams.py --gc."""
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    make_container(url).close()
    env = dict(os.environ, REFDESK_DATABASE_URL=url, PYTHONPATH=str(ROOT))
    code = "import gc, web.wsgi; print(gc.get_threshold()[0])"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) >= 10_000
