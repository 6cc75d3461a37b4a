"""The secret behind follow-up links: REFDESK_SECRET_KEY, else one key kept in the database for every process."""

import pytest

from router import followup
from tests.conftest import make_container


def test_processes_sharing_a_database_agree_on_one_secret(tmp_path):
    url = f"sqlite:///{tmp_path / 'refdesk.db'}"
    web, worker = make_container(url), make_container(url)
    try:
        assert len(web.desk.secret) >= 32 and web.desk.secret == worker.desk.secret
        with web.desk.uow() as uow:
            assert uow.kv.get("secret_key") == web.desk.secret.decode()
        token = followup.resume_token(worker.desk.secret, "c1")
        assert followup.is_resume_token(web.desk.secret, "c1", token)
    finally:
        web.close()
        worker.close()
    other = make_container(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        assert other.desk.secret != web.desk.secret  # each deployment its own
    finally:
        other.close()


def test_the_configured_secret_wins_and_public_url_reaches_the_desk(tmp_path):
    container = make_container(
        f"sqlite:///{tmp_path / 'refdesk.db'}", secret_key="from-the-environment", public_url="https://ask.example"
    )
    try:
        assert container.desk.secret == b"from-the-environment" and container.desk.public_url == "https://ask.example"
    finally:
        container.close()


@pytest.mark.postgres
def test_one_secret_on_postgresql_too(postgres_url):
    first, second = make_container(postgres_url), make_container(postgres_url)
    try:
        assert first.desk.secret and first.desk.secret == second.desk.secret
    finally:
        first.close()
        second.close()
