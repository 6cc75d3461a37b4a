"""`refdesk --version` names the installed release, so an operator can tell what runs (see CHANGELOG.md)."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from adapters.cli import main


def test_version_prints_the_installed_release_and_exits(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"refdesk {version('refdesk')}\n"
