"""Web admin accounts: who may sign in, and what each role may do.

Three roles: `admin` changes the desk's settings, `viewer` only reads (statistics and
transcripts), `editor` manages the FAQ (router.faq_entries) and may open no other page.
Password hashing is the adapter's job (werkzeug in web/ and the CLI):
the functions are passed in, so this module keeps to validation, storage and the rules.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from router import errors
from router.journal import Desk
from router.model import AdminUser
from router.ports import UnitOfWork

ROLES = ("admin", "viewer", "editor")
USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # hashing a megabyte-long "password" is a cheap way to burn a server's CPU


def check_role(role: str) -> str:
    if role not in ROLES:
        raise errors.InvalidInput(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def check_password(password: str) -> str:
    """Length is the one rule that helps: at least 10 characters, anything allowed."""
    if len(password) < MIN_PASSWORD:
        raise errors.InvalidInput(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise errors.InvalidInput(f"a password has at most {MAX_PASSWORD} characters")
    return password


def normalise_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME.fullmatch(name):
        raise errors.InvalidInput("a username is 1-64 lowercase letters, digits, '.', '_', '@' or '-'")
    return name


def create(
    desk: Desk, username: str, password: str, role: str, hash_password: Callable[[str], str], *, replace: bool = False
) -> AdminUser:
    """Add an account; `replace` resets an existing one's password and role (a forgotten password)."""
    name, role = normalise_username(username), check_role(role)
    check_password(password)
    with desk.uow() as uow:
        existing = uow.admins.get(name)
        if existing is not None and not replace:
            raise errors.InvalidInput(f"there is already an account named {name!r}")
        created_at = existing.created_at if existing else desk.clock.now()
        user = AdminUser(name, hash_password(password), role, created_at, security_stamp=_new_stamp())
        uow.admins.save(user)
        uow.kv.delete(FAILURES + name)  # a reset password also lifts a lock-out
        uow.commit()
    return user


def _new_stamp() -> str:
    """Random rather than a counter, so an account deleted and created again never matches an old cookie."""
    return secrets.token_urlsafe(24)


def signed_in(desk: Desk, username: str, stamp: str) -> AdminUser | None:
    """The account a session cookie names, if the cookie still carries the account's current stamp.

    The cookie is signed but lives in the browser, and a copy of it stays valid as long as its
    signature does; comparing the stamp with the database on every request is what lets sign-out,
    a password reset and deleting the account end a session. Role changes need nothing extra: the
    account is read afresh each time."""
    user = get(desk, username)
    if user is None or not user.security_stamp:
        return None
    return user if hmac.compare_digest(user.security_stamp.encode(), stamp.encode()) else None


def sign_out_everywhere(desk: Desk, username: str) -> None:
    """Replace the account's stamp: every session of this account ends, on every device."""
    with desk.uow() as uow:
        user = uow.admins.get(username)
        if user is not None:
            user.security_stamp = _new_stamp()
            uow.admins.save(user)
            uow.commit()


def delete(desk: Desk, username: str) -> None:
    with desk.uow() as uow:
        if not uow.admins.delete(username.strip().lower()):
            raise errors.InvalidInput(f"there is no account named {username!r}")
        uow.commit()


def listing(desk: Desk) -> list[AdminUser]:
    with desk.uow(read_only=True) as uow:
        return uow.admins.list()


def get(desk: Desk, username: str) -> AdminUser | None:
    with desk.uow(read_only=True) as uow:
        return uow.admins.get(username)


def authenticate(
    desk: Desk, username: str, password: str, verify: Callable[[str, str], bool], decoy_hash: str
) -> AdminUser | None:
    """The account if the password matches, else None; an unknown name costs as much as a wrong password,
    so timing does not tell which accounts exist (`decoy_hash` is any hash made by the same scheme)."""
    if len(password) > MAX_PASSWORD:
        return None
    try:
        name = normalise_username(username)
    except errors.InvalidInput:
        verify(decoy_hash, password)
        return None
    user = get(desk, name)
    if user is None:
        verify(decoy_hash, password)
        return None
    return user if verify(user.password_hash, password) else None


MAX_FAILURES, FAILURE_WINDOW = 10, timedelta(minutes=15)
FAILURES = "admin:failures:"


def locked_out(desk: Desk, username: str) -> bool:
    """Ten wrong passwords for one name within 15 minutes lock that name for the rest of the window.

    Kept in the database, so every web process counts together; per name rather than per address,
    because an attacker has many addresses and a library has few admin names."""
    return len(_recent_failures(desk, username)) >= MAX_FAILURES


def record_failure(desk: Desk, username: str) -> None:
    now = desk.clock.now()
    with desk.uow() as uow:
        recent = [t for t in _failure_times(uow, username) if now - t < FAILURE_WINDOW]
        uow.kv.set(FAILURES + _key(username), json.dumps([t.isoformat() for t in [*recent, now][-MAX_FAILURES:]]))
        uow.commit()


def clear_failures(desk: Desk, username: str) -> None:
    with desk.uow() as uow:
        uow.kv.delete(FAILURES + _key(username))
        uow.commit()


def _recent_failures(desk: Desk, username: str) -> list[datetime]:
    now = desk.clock.now()
    with desk.uow(read_only=True) as uow:
        return [t for t in _failure_times(uow, username) if now - t < FAILURE_WINDOW]


def _failure_times(uow: UnitOfWork, username: str) -> list[datetime]:
    try:
        return [datetime.fromisoformat(t) for t in json.loads(uow.kv.get(FAILURES + _key(username)) or "[]")]
    except ValueError:
        return []


def _key(username: str) -> str:
    return username.strip().lower()[:100]


def allows(role: str, needed: str) -> bool:
    """Who may open a page. `viewer` pages: admins and viewers; `editor` pages (the FAQ): admins, editors, and
    viewers to read; `admin` pages: admins only. An editor opens FAQ pages and nothing else."""
    if role == "admin":
        return True
    if needed == "editor":
        return role in ("editor", "viewer")
    return needed == "viewer" and role == "viewer"


def may_change(role: str, needed: str) -> bool:
    """Who may send a change (a POST) to a page: admins anywhere, editors on `editor` (FAQ) pages only."""
    return role == "admin" or (role == "editor" and needed == "editor")
