"""Small helpers shared by the admin pages: run a use case and turn its error into a message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, render_template

from router.errors import RefdeskError


def attempt(action: Callable[[], Any]) -> str | None:
    """None when the use case succeeded, else its readable error (nothing was saved)."""
    try:
        action()
    except RefdeskError as exc:
        return str(exc)
    return None


def done(message: str) -> None:
    flash(message, "ok")


def page(template: str, /, **context: Any) -> tuple[str, int]:
    """Render; a failed form comes back with 422 and the problem shown at the top."""
    return render_template(template, **context), (422 if context.get("error") else 200)
