"""The knowledge base on SQLite (FTS5) and PostgreSQL (tsvector): storage, stemming, ranking, typos, filters."""

from __future__ import annotations

from router import faq_entries
from router.faq_entries import FaqArticle
from router.model import Backend, Queue


def _published(desk, question, answer, **extra):
    return faq_entries.save(desk, FaqArticle(None, question, answer, status="published", **extra))


def test_an_entry_round_trips_and_leaves_the_index_when_changed_or_deleted(container):
    desk = container.desk
    saved = faq_entries.save(
        desk,
        FaqArticle(
            None,
            "Where is the Moby Dick?",
            '<p>Third <b>floor</b> <a href="https://x.org">map</a></p>',
            topics=["fiction"],
            queue_slug="general",
        ),
    )
    stored = faq_entries.get(desk, saved.id)
    assert stored == saved
    assert 'rel="noopener noreferrer nofollow"' in stored.answer and 'target="_blank"' in stored.answer  # sanitised
    assert faq_entries.search(desk, "moby") == []  # a draft
    assert [h.article.id for h in faq_entries.search(desk, "moby", published_only=False)] == [saved.id]
    faq_entries.save(desk, FaqArticle(saved.id, "Where is the atlas?", "<p>Basement</p>", status="published"))
    assert faq_entries.search(desk, "moby", published_only=False) == []
    assert [h.article.id for h in faq_entries.search(desk, "atlas")] == [saved.id]
    faq_entries.delete(desk, saved.id)
    assert faq_entries.search(desk, "atlas", published_only=False) == [] and faq_entries.get(desk, saved.id) is None


def test_search_stems_ranks_the_question_first_and_forgives_typos(container):
    desk = container.desk
    title = _published(desk, "Do you lend Moby Dick by Herman Melville?", "<p>Yes, in fiction.</p>")
    mention = _published(desk, "Books about whales?", "<p>Start with Moby Dick, then natural history.</p>")
    other = _published(desk, "Printing from a laptop", "<p>Use the print portal; pages cost 10 cents.</p>")
    assert [h.article.id for h in faq_entries.search(desk, "moby dick")] == [title.id, mention.id]
    assert [h.article.id for h in faq_entries.search(desk, "moby dik")][0] == title.id
    assert [h.article.id for h in faq_entries.search(desk, "melvile")] == [title.id]
    # misspelt so that no stemmer or prefix rescues them (the stemmers alone find "melvile" and many others)
    assert [h.article.id for h in faq_entries.search(desk, "melvxlle")] == [title.id]
    assert [h.article.id for h in faq_entries.search(desk, "whxles")] == [mention.id]
    assert [h.article.id for h in faq_entries.search(desk, "whale")] == [mention.id]  # whales, stemmed
    assert [h.article.id for h in faq_entries.search(desk, "printed pages")] == [other.id]
    assert [h.article.id for h in faq_entries.search(desk, "print")] == [other.id]  # an unfinished last word
    hits = faq_entries.search(desk, "moby dick")
    assert hits[0].rank > hits[1].rank
    assert faq_entries.search(desk, "moby", limit=1)[0].article.id == title.id
    assert faq_entries.search(desk, "\"' OR 1=1 -- NEAR( *") == []  # no query syntax reaches the database


def test_words_in_more_entries_than_the_ranking_cap_still_rank_the_best_question_first(container):
    """PostgreSQL ranks only so many matches of very common words (adapters.storage.sql.RANK_CAP, OTHER_CAP): the
    entry whose question holds the words is ranked however many entries mention them elsewhere, even stored last."""
    from adapters.storage.sql import OTHER_CAP, RANK_CAP

    mentions = [
        FaqArticle(None, f"Opening hours {n}?", "<p>Bring your library card to the library.</p>", status="published")
        for n in range(max(RANK_CAP, OTHER_CAP) + 1)
    ]
    faq_entries.save_many(container.desk, mentions)
    best = _published(container.desk, "How do I renew my library card?", "<p>At the desk.</p>")
    hits = faq_entries.search(container.desk, "library card", limit=5)
    assert hits[0].article.id == best.id and hits[0].rank > hits[1].rank
    assert len(hits) == 5  # the other matches still fill the page


def test_language_and_queue_filters(container):
    desk = container.desk
    with desk.uow() as uow:
        uow.queues.add(Queue("youth", "Youth", Backend.MATRIX, "!y:localhost"))
        uow.commit()
    spanish = _published(desk, "¿Dónde están las bibliotecas?", "<p>En el centro.</p>", language="es")
    french = _published(desk, "Où sont les bibliothèques ?", "<p>Au centre.</p>", language="fr")
    youth = _published(desk, "Laptop loans for teens?", "<p>Ask us.</p>", queue_slug="youth")
    general = _published(desk, "Laptop loans?", "<p>At the desk.</p>", queue_slug="general")
    everyone = _published(desk, "Printing from a laptop", "<p>Use the portal.</p>")
    assert [h.article.id for h in faq_entries.search(desk, "biblioteca", language="es")] == [spanish.id]
    assert [h.article.id for h in faq_entries.search(desk, "bibliothèque")] == [french.id]
    assert faq_entries.search(desk, "bibliotecas", language="fr") == []
    assert {h.article.id for h in faq_entries.search(desk, "laptop", queue="youth")} == {youth.id, everyone.id}
    assert {h.article.id for h in faq_entries.search(desk, "laptop", queue="general")} == {general.id, everyone.id}
    assert len(faq_entries.search(desk, "laptop")) == 3
    listed = faq_entries.list_articles(desk, status="published", queue_slug="")
    assert {a.id for a in listed} == {spanish.id, french.id, everyone.id}


def test_the_public_pages_queries_filter_count_and_limit_in_the_database(container):
    """uow.faq.newest / topic_counts / count_published and a search's topic: what /faq and /api/v1/faq show."""
    desk = container.desk
    with desk.uow() as uow:
        uow.queues.add(Queue("youth", "Youth", Backend.MATRIX, "!y:localhost"))
        uow.commit()
    old = _published(desk, "Renewing books", "<p>Online.</p>", topics=["loans", "books"])
    youth = _published(desk, "Laptop loans for teens?", "<p>Ask us.</p>", queue_slug="youth", topics=["loans"])
    general = _published(desk, "Laptop loans?", "<p>At the desk.</p>", queue_slug="general", topics=["loans"])
    spanish = _published(desk, "¿Renovar libros?", "<p>En línea.</p>", language="es", topics=["books"])
    faq_entries.save(desk, FaqArticle(None, "Draft about loans", "<p>x</p>", topics=["loans", "secret"]))
    assert [a.id for a in faq_entries.newest(desk)] == [spanish.id, general.id, youth.id, old.id]  # newest first
    assert [a.id for a in faq_entries.newest(desk, limit=2)] == [spanish.id, general.id]
    assert [a.id for a in faq_entries.newest(desk, queue="youth")] == [spanish.id, youth.id, old.id]
    assert [a.id for a in faq_entries.newest(desk, language="en", topic="loans")] == [general.id, youth.id, old.id]
    assert faq_entries.newest(desk, topic="secret") == []  # a draft's topic
    page = faq_entries.published_faq(desk, queue="youth", limit=1)
    assert [a.id for a in page.articles] == [spanish.id] and page.total == 3
    assert page.topics == {"loans": 2, "books": 2}
    english = faq_entries.published_faq(desk, language="en")
    assert english.topics == {"loans": 3, "books": 1} and english.total == 3
    assert faq_entries.published_faq(desk, language="fr") == faq_entries.PublishedFaq([], {}, 0)
    assert {h.article.id for h in faq_entries.search(desk, "laptop", topic="loans")} == {youth.id, general.id}
    assert faq_entries.search(desk, "laptop", topic="books") == []
    assert [h.article.id for h in faq_entries.search(desk, "renewing", topic="books")] == [old.id]


def test_drafts_from_a_chat_and_merges_on_the_real_database(container):
    from router import conversations as uc
    from router import staff
    from router.journal import Inbound

    desk = container.desk
    chat, token = uc.start_conversation(desk, "general", name="Ann Lee")
    uc.patron_says(desk, chat.id, token, "Ann here, ann@example.org: renew a book?", None)
    staff.staff_says(desk, chat.id, "@l:x", "Lib", "Yes Ann, online.", Inbound("m", "$1"))
    draft = faq_entries.draft_from_conversation(desk, chat.id)
    assert faq_entries.draft_from_conversation(desk, chat.id).id == draft.id
    assert draft.question == "[name] here, [email]: renew a book?" and draft.answer == "<p>Yes [name], online.</p>"
    assert [a.id for a in faq_entries.list_articles(desk, source_conversation_id=chat.id)] == [draft.id]
    other, _ = uc.start_conversation(desk, "general")
    kept = faq_entries.draft_from_conversation(desk, other.id)
    with desk.uow() as uow:  # retention deletes a chat: its draft stays, naming it no more
        uow.conversations.delete(other.id)
        uow.commit()
    assert faq_entries.get(desk, kept.id).source_conversation_id is None
    keep = _published(desk, "Renewing books", "<p>Online or at the desk.</p>", topics=["loans"])
    faq_entries.merge(desk, keep.id, draft.id)
    assert faq_entries.resolve(desk, draft.id) == keep.id
    assert [h.article.id for h in faq_entries.search(desk, "renew")] == [keep.id]
