"""The unit of work's announcements (router.ports.UnitOfWork.announce), with the fakes' notifier."""

from __future__ import annotations

from tests.unit.fakes import make_desk


def test_announced_topics_are_published_once_each_after_the_commit_in_order():
    desk, _, _, notifier = make_desk()
    with desk.uow() as uow:
        for topic in ("b", "a", "b"):
            uow.announce(topic)
        assert notifier.published == []  # not before the commit
        uow.commit()
    assert notifier.published == ["b", "a"]


def test_a_rollback_announces_nothing_and_the_next_commit_only_its_own():
    desk, _, _, notifier = make_desk()
    with desk.uow() as uow:
        uow.announce("lost")
    with desk.uow() as uow:
        uow.announce("lost")
        uow.rollback()
        uow.announce("kept")
        uow.commit()
    assert notifier.published == ["kept"]
