"""Admin account rules: validation, hashing is the caller's, roles, and sign-in that leaks nothing."""

from __future__ import annotations

import pytest

from router import admins
from router.errors import InvalidInput
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
        ("ada", "long enough pw", "owner", "role must be one of admin, viewer"),
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
    with pytest.raises(InvalidInput):
        admins.check_role("root")
