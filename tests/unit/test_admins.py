"""Admin account rules: validation, hashing is the caller's, roles, and sign-in that leaks nothing."""

from __future__ import annotations

import pytest

from router import admins
from router.errors import InvalidInput
from router.model import Backend
from tests.unit.fakes import make_desk


def fake_hash(password: str) -> str:
    return "h:" + password[::-1]


def fake_verify(hashed: str, password: str) -> bool:
    return hashed == fake_hash(password)


def test_create_stores_only_the_hash_and_normalises_the_name():
    desk, store, _, _ = make_desk()
    user = admins.create(desk, " Ada ", "long enough pw", "admin", fake_hash)
    assert user.username == "ada" and store.admins["ada"].password_hash == fake_hash("long enough pw")
    assert admins.authenticate(desk, "ADA", "long enough pw", fake_verify, "decoy") == store.admins["ada"]


@pytest.mark.parametrize(
    ("username", "password", "role", "message"),
    [
        ("ada", "short", "admin", "at least 10 characters"),
        ("ada", "x" * 2000, "admin", "at most 1024"),
        ("ada", "long enough pw", "owner", "role must be one of admin, viewer, editor"),
        ("a b", "long enough pw", "admin", "a username is"),
        ("", "long enough pw", "admin", "a username is"),
    ],
)
def test_bad_input_gets_a_clear_error(username, password, role, message):
    desk, store, _, _ = make_desk()
    with pytest.raises(InvalidInput, match=message):
        admins.create(desk, username, password, role, fake_hash)
    assert store.admins == {}


def test_an_existing_account_is_replaced_only_on_request():
    desk, store, _, _ = make_desk()
    admins.create(desk, "ada", "first password", "viewer", fake_hash)
    with pytest.raises(InvalidInput, match="already an account"):
        admins.create(desk, "ada", "second password", "admin", fake_hash)
    admins.create(desk, "ada", "second password", "admin", fake_hash, replace=True)
    assert store.admins["ada"].role == "admin" and fake_verify(store.admins["ada"].password_hash, "second password")


def test_wrong_password_and_unknown_user_both_spend_a_verification():
    desk, _, _, _ = make_desk()
    admins.create(desk, "ada", "long enough pw", "admin", fake_hash)
    checked = []

    def verify(hashed, password):
        checked.append(hashed)
        return fake_verify(hashed, password)

    assert admins.authenticate(desk, "ada", "wrong password", verify, "decoy") is None
    assert admins.authenticate(desk, "nobody", "long enough pw", verify, "decoy") is None
    assert admins.authenticate(desk, "bad name!", "long enough pw", verify, "decoy") is None
    assert checked == [fake_hash("long enough pw"), "decoy", "decoy"]


def test_delete_and_roles():
    desk, store, _, _ = make_desk()
    admins.create(desk, "vic", "long enough pw", "viewer", fake_hash)
    assert [u.username for u in admins.listing(desk)] == ["vic"]
    admins.delete(desk, "vic")
    with pytest.raises(InvalidInput, match="no account named"):
        admins.delete(desk, "vic")
    assert admins.allows("admin", "admin") and admins.allows("admin", "viewer") and admins.allows("viewer", "viewer")
    assert not admins.allows("viewer", "admin")
    assert admins.allows("editor", "editor") and admins.allows("viewer", "editor") and admins.allows("admin", "editor")
    assert not admins.allows("editor", "viewer") and not admins.allows("editor", "admin")
    assert admins.may_change("editor", "editor") and admins.may_change("admin", "viewer")
    assert not admins.may_change("viewer", "editor") and not admins.may_change("editor", "admin")
    with pytest.raises(InvalidInput):
        admins.check_role("root")


@pytest.mark.parametrize(
    ("backend", "room", "message"),
    [
        ("matrix", "#desk:example.org", "that is an alias"),
        ("matrix", "desk", "a Matrix room id looks like"),
        ("slack", "#reference", "that is the channel name"),
        ("slack", "reference", "that is the channel name"),
        ("irc", "C0DESK", "backend must be matrix or slack"),
    ],
)
def test_a_queue_with_a_badly_formed_room_is_refused(backend, room, message):
    from router import queue_setup

    desk, store, _, _ = make_desk()
    with pytest.raises(InvalidInput, match=message):
        queue_setup.save_queue(desk, "desk", "Desk", backend, room, [], new=True)
    assert store.queues == {}


@pytest.mark.parametrize(
    "room", ["!abc:example.org", "!abc:localhost:8448", "!63l26YnG6NoB5mOl2SrtjLA5KzPDGC1bbToLvMSMftE"]
)
def test_matrix_room_ids_of_every_room_version_are_accepted(room):
    """Room version 12 ids carry no server part (a hash of the room's create event)."""
    from router import queue_setup

    assert queue_setup.check_room(Backend.MATRIX, room) == room


def test_a_queue_keeps_its_hours_when_edited_and_origins_are_normalised():
    from router import queue_setup

    desk, store, _, _ = make_desk()
    queue_setup.save_queue(desk, "desk", "Desk", "slack", "C0DESK", ["https://Library.example/", ""], new=True)
    store.queues["desk"].hours = {"timezone": "UTC", "intervals": [[0, "09:00", "17:00"]], "closures": []}
    queue_setup.save_queue(desk, "desk", "Desk 2", "matrix", "!abc:example.org", [], new=False)
    queue = store.queues["desk"]
    assert queue.hours["intervals"] == [[0, "09:00", "17:00"]] and queue.name == "Desk 2"
    assert store.queues["desk"].allowed_origins == []
    with pytest.raises(InvalidInput, match="no path"):
        queue_setup.check_origins(["https://library.example/chat"])


def test_the_platform_check_refuses_before_anything_is_saved_and_passes_warnings_on():
    from router import queue_setup

    desk, store, _, _ = make_desk()

    def refuse(backend, room):
        raise InvalidInput(f"the bot is not in {room}")

    with pytest.raises(InvalidInput, match="the bot is not in C0NOPE"):
        queue_setup.save_queue(desk, "desk", "Desk", "slack", "C0NOPE", [], new=True, reachable=refuse)
    assert "desk" not in store.queues
    seen = []
    warning = queue_setup.save_queue(
        desk, "desk", "Desk", "slack", "C0DESK", [], new=True, reachable=lambda b, r: seen.append((b, r)) or "unchecked"
    )
    assert warning == "unchecked" and seen == [(Backend.SLACK, "C0DESK")] and "desk" in store.queues
    assert queue_setup.check_origins(["https://Library.example/"]) == ["https://library.example"]


def test_ten_wrong_passwords_lock_the_name_for_fifteen_minutes_and_a_reset_lifts_it():
    from router import admins

    desk, _, clock, _ = make_desk()
    admins.create(desk, "ada", "a long enough password", "admin", lambda p: f"hash:{p}")
    for _ in range(9):
        admins.record_failure(desk, "Ada")
    assert not admins.locked_out(desk, "ada")
    admins.record_failure(desk, "ada")
    assert admins.locked_out(desk, "ADA ") and not admins.locked_out(desk, "bob")
    clock.advance(15 * 60 + 1)
    assert not admins.locked_out(desk, "ada")  # the window has passed
    for _ in range(10):
        admins.record_failure(desk, "ada")
    admins.create(desk, "ada", "another long password", "admin", lambda p: f"hash:{p}", replace=True)
    assert not admins.locked_out(desk, "ada")
