"""A production install for the smoke test: a fresh venv with `pip install .`, no extras, not editable.

pip's own cache does not help here (this machine's index answers are not cacheable and local indexes
are never cached), so the dependencies' wheels are kept in a wheelhouse keyed on pyproject.toml's hash
and the Python version. Each test run still builds a new venv and installs refdesk from a clean copy of the source
tree with `pip install --no-index --find-links WHEELHOUSE .`: pip resolves the dependencies from
pyproject.toml as an operator's install would, only without the network. A dependency missing from
pyproject.toml is missing from the wheelhouse too, so the smoke test sees what a plain install sees.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def _key(pyproject: bytes) -> str:
    interpreter = f"{sys.version_info.major}.{sys.version_info.minor}-{platform.machine()}"
    return hashlib.sha256(pyproject + interpreter.encode()).hexdigest()[:16]


def _pip(python: str | Path, *args: str) -> None:
    result = subprocess.run([str(python), "-m", "pip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pip {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")


def wheelhouse(root: Path = ROOT) -> Path:
    """The dependency wheels (and the build backend) for this pyproject.toml, built once per change.

    Built beside its final place and renamed into it, so a run that stops half-way or a second
    run at the same time never leaves a partial wheelhouse behind.
    """
    pyproject = (root / "pyproject.toml").read_bytes()
    target = _cache_home() / "refdesk-tests" / "wheelhouse" / _key(pyproject)
    if target.is_dir():
        return target
    building = target.with_name(f"{target.name}.{os.getpid()}.partial")
    shutil.rmtree(building, ignore_errors=True)
    build_requires = tomllib.loads(pyproject.decode())["build-system"]["requires"]
    _pip(sys.executable, "wheel", "--quiet", "--wheel-dir", str(building), str(root), *build_requires)
    for own in building.glob("refdesk-*.whl"):
        own.unlink()  # refdesk itself is built from the source tree at every run
    try:
        building.rename(target)
    except OSError:  # another run finished first: its wheelhouse is as good
        shutil.rmtree(building, ignore_errors=True)
    return target


def clean_copy(root: Path, target: Path) -> Path:
    """The source tree without build leftovers: setuptools builds in place and never prunes `build/`,
    so a module deleted from the source would otherwise still be packaged."""
    leftovers = shutil.ignore_patterns(
        ".git", ".venv", ".demo", "build", "*.egg-info", "__pycache__", ".*_cache", "test-artifacts", ".data"
    )
    shutil.copytree(root, target, ignore=leftovers)
    return target


def fresh_venv(where: Path, root: Path = ROOT) -> Path:
    """A new venv at `where` with refdesk installed as an operator would; returns its bin directory.

    The test run's pip installs into it (`--python`) and skips byte-compiling (`--no-compile`): the
    packages are the same, and the build costs a quarter of the CPU on a busy 2-core machine.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, capture_output=True)
    python = str(where / "bin" / "python")
    source = clean_copy(root, where.with_name(f"{where.name}-source"))
    wheels = str(wheelhouse(source))
    _pip(
        sys.executable,
        "--python",
        python,
        "install",
        "--quiet",
        "--no-compile",
        "--no-index",
        "--find-links",
        wheels,
        str(source),
    )
    return where / "bin"
