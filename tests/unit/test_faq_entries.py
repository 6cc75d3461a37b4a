"""The knowledge base's use cases on fakes: drafts from chats (scrubbed), editing rules, publishing, search."""

import pytest

from router import conversations as uc
from router import errors, faq_entries, staff, tagging
from router.faq_entries import FaqArticle
from router.journal import Inbound
from router.model import Backend, Queue
from tests.unit.fakes import make_desk

GENERAL = Queue("general", "General", Backend.MATRIX, "!room:localhost")


def _desk():
    desk, store, clock, _ = make_desk(GENERAL)
    desk.max_body = 4000
    return desk, store, clock


def _answered_chat(desk, name="Maria Gonzalez", language="es-MX"):
    conversation, token = uc.start_conversation(desk, "general", name=name, language=language)
    uc.patron_says(desk, conversation.id, token, "Hi, I'm Maria (maria@example.org). Card 21234000123456?", None)
    uc.patron_says(desk, conversation.id, token, "Do you have old maps of Leeds?", None)
    staff.staff_says(
        desk, conversation.id, "@l:x", "Lib", "Hello Maria! Call 020 7946 0958 <for> maps.", Inbound("m", "$1")
    )
    uc.patron_says(desk, conversation.id, token, "Thanks, another question", None)
    tagging.record(desk, conversation.id, 3, "maps history", False)
    return conversation


def test_a_draft_holds_the_first_answered_question_scrubbed_with_queue_language_and_tags():
    desk, _, _ = _desk()
    chat = _answered_chat(desk)
    draft = faq_entries.draft_from_conversation(desk, chat.id)
    assert draft.question == "Hi, I'm [name] ([email]). Card [card number]?\nDo you have old maps of Leeds?"
    assert draft.answer == "<p>Hello [name]! Call [phone] &lt;for&gt; maps.</p>"  # text escaped, never raw HTML
    assert (draft.status, draft.queue_slug, draft.language, draft.topics) == (
        "draft",
        "general",
        "es",
        ["maps", "history"],
    )
    assert draft.source_conversation_id == chat.id
    for leak in ("Maria", "maria", "0958", "21234000123456"):
        assert leak not in draft.question + draft.answer


def test_marking_again_refreshes_an_untouched_draft_and_never_duplicates_or_overwrites_an_edit():
    desk, store, clock = _desk()
    chat = _answered_chat(desk)
    first = faq_entries.draft_from_conversation(desk, chat.id)
    again = faq_entries.draft_from_conversation(desk, chat.id)
    assert again.id == first.id and len(store.faq) == 1
    clock.advance(60)
    edited = faq_entries.save(desk, FaqArticle(first.id, "Old maps?", "<p>Local studies room.</p>"))
    assert edited.source_conversation_id == chat.id  # still a draft: staff still see where it came from
    assert faq_entries.draft_from_conversation(desk, chat.id).question == "Old maps?"
    assert len(store.faq) == 1


def test_publishing_drops_the_link_to_the_chat_for_good_and_needs_an_answer():
    desk, _, _ = _desk()
    chat, _ = uc.start_conversation(desk, "general", name="Bo")
    draft = faq_entries.draft_from_conversation(desk, chat.id)  # nobody answered yet
    with pytest.raises(errors.InvalidInput, match="before publishing"):
        faq_entries.publish(desk, draft.id)
    faq_entries.save(desk, FaqArticle(draft.id, "Opening hours?", "<p>9 to 5</p>"))
    published = faq_entries.publish(desk, draft.id)
    assert (published.status, published.source_conversation_id) == ("published", None)
    assert published.published_at is not None
    unpublished = faq_entries.unpublish(desk, draft.id)
    assert (unpublished.status, unpublished.source_conversation_id, unpublished.published_at) == ("draft", None, None)
    assert faq_entries.list_articles(desk, source_conversation_id=chat.id) == []


def test_saving_checks_every_field_and_sanitises_the_answer():
    desk, _, _ = _desk()
    desk.sanitise_html = lambda markup: markup.replace("<script>x</script>", "")
    saved = faq_entries.save(
        desk, FaqArticle(None, "  Where   are maps? ", "<b>Here</b><script>x</script>", topics="Maps, maps")
    )
    assert (saved.question, saved.answer, saved.topics) == ("Where are maps?", "<b>Here</b>", ["maps"])
    bad = [
        (FaqArticle(None, " ", "a"), "question"),
        (FaqArticle(None, "q", "a", language="english"), "two-letter"),
        (FaqArticle(None, "q", "a", queue_slug="nope"), "nope"),
        (FaqArticle(None, "q", "a", status="live"), "draft or published"),
        (FaqArticle(None, "q", " ", status="published"), "needs an answer"),
        (FaqArticle(None, "q", "a", topics=["two words"]), "one word"),
        (FaqArticle(None, "q", "a", translation_of=99), "#99"),
        (FaqArticle(42, "q", "a"), "#42"),
    ]
    for article, message in bad:
        with pytest.raises(errors.RefdeskError, match=message):
            faq_entries.save(desk, article)
    desk.sanitise_html = None  # no sanitiser: markup is shown as text, never trusted
    assert (
        faq_entries.save(desk, FaqArticle(None, "q", "<img src=x onerror=alert(1)>a & b")).answer == "<p>a &amp; b</p>"
    )


def test_merging_keeps_one_entry_with_both_topics_and_remembers_where_the_other_went():
    desk, store, _ = _desk()
    keep = faq_entries.save(desk, FaqArticle(None, "Renew a book?", "Online", topics=["loans"], status="published"))
    drop = faq_entries.save(desk, FaqArticle(None, "How to renew?", "Online", topics=["renewals"]))
    spanish = faq_entries.save(desk, FaqArticle(None, "¿Renovar?", "En línea", language="es", translation_of=drop.id))
    older = faq_entries.save(desk, FaqArticle(None, "Renewing", "x"))
    faq_entries.merge(desk, drop.id, older.id)
    merged = faq_entries.merge(desk, keep.id, drop.id)
    assert merged.topics == ["loans", "renewals"]
    assert set(store.faq) == {keep.id, spanish.id}
    assert store.faq[spanish.id].translation_of == keep.id
    assert faq_entries.resolve(desk, drop.id) == keep.id
    assert faq_entries.resolve(desk, older.id) == keep.id  # merged twice: still leads to the survivor
    assert faq_entries.resolve(desk, 999) is None
    with pytest.raises(errors.InvalidInput):
        faq_entries.merge(desk, keep.id, keep.id)


def test_the_patrons_language_variant_is_chosen_when_published():
    desk, _, _ = _desk()
    english = faq_entries.save(desk, FaqArticle(None, "Wifi password?", "Ask at the desk", status="published"))
    spanish = faq_entries.save(
        desk, FaqArticle(None, "¿Contraseña wifi?", "Pregunte", language="es", translation_of=english.id)
    )
    assert faq_entries.variant(desk, english, "es-MX").id == english.id  # a draft variant is not sent
    faq_entries.publish(desk, spanish.id)
    assert faq_entries.variant(desk, english, "es-MX").id == spanish.id
    assert faq_entries.variant(desk, faq_entries.get(desk, spanish.id), "en").id == english.id
    assert faq_entries.variant(desk, english, "fr").id == english.id


def test_search_ranks_question_matches_first_finds_typos_and_unfinished_words_and_hides_drafts():
    desk, _, _ = _desk()
    title = faq_entries.save(
        desk, FaqArticle(None, "Do you have Moby Dick?", "<p>Yes, fiction</p>", status="published")
    )
    mention = faq_entries.save(desk, FaqArticle(None, "Whale books?", "<p>Try Moby Dick</p>", status="published"))
    faq_entries.save(desk, FaqArticle(None, "Moby Dick audiobook?", "<p>Not yet</p>"))  # a draft
    assert [h.article.id for h in faq_entries.search(desk, "moby dick")] == [title.id, mention.id]
    assert [h.article.id for h in faq_entries.search(desk, "moby dik")][:1] == [title.id]
    assert [h.article.id for h in faq_entries.search(desk, "Moby Di")][:1] == [title.id]
    assert len(faq_entries.search(desk, "moby dick", published_only=False)) == 3
    assert faq_entries.search(desk, "   ") == [] and faq_entries.search(desk, "zebra") == []


def test_a_typo_is_corrected_only_within_the_allowed_distance():
    assert faq_entries.distance("dik", "dick") == 1
    assert faq_entries.distance("melvile", "melville") == 1
    assert faq_entries.distance("abc", "xyz", cap=2) == 3
    assert faq_entries.tokens("Où est l'entrée? C++_x") == ["où", "est", "l", "entrée", "c", "x"]
    assert faq_entries.plain_text("<p>A &amp; B</p><ul><li>one</li><li>two</li></ul>") == "A & B\none\ntwo"


def _run(desk, conversation_id, text, staff_id="@lib:x", event="$cmd"):
    from router import commands

    context = commands.CommandContext(
        ["general"], staff_id, "Lib", conversation_id=conversation_id, inbound=Inbound("matrix", event)
    )
    return commands.run(desk, context, text)


def test_marking_after_publishing_makes_no_duplicate_until_unmarked():
    desk, store, _ = _desk()
    chat = _answered_chat(desk)
    assert "FAQ draft #1" in _run(desk, chat.id, "!faq")
    faq_entries.publish(desk, 1)
    assert "already published or deleted" in _run(desk, chat.id, "!faq")
    assert len(store.faq) == 1
    _run(desk, chat.id, "!faq off")
    assert len(store.faq) == 1  # a published entry is never removed by unmarking
    assert "FAQ draft #2" in _run(desk, chat.id, "!faq")


def test_faq_search_lists_numbered_matches_and_send_replies_in_the_patrons_language():
    desk, store, _ = _desk()
    chat = _answered_chat(desk, language="es")
    english = faq_entries.save(
        desk, FaqArticle(None, "Wifi password?", "<p>Ask at the <b>desk</b></p>", status="published")
    )
    faq_entries.save(desk, FaqArticle(None, "Wifi printing?", "<p>Use the portal</p>", status="published"))
    faq_entries.save(
        desk,
        FaqArticle(
            None, "¿Contraseña wifi?", "<p>Pregunte</p>", language="es", translation_of=english.id, status="published"
        ),
    )
    listing = _run(desk, chat.id, "!faq search wifi pasword")
    assert listing.splitlines()[0].startswith("FAQ answers for “wifi pasword” (!faq send N")
    assert listing.splitlines()[1:] == ["1. Wifi password? [en] — Ask at the desk"]  # the typo corrected
    assert len(_run(desk, chat.id, "!faq search wifi").splitlines()) == 3  # three entries; a translation is one answer
    _run(desk, chat.id, "!faq search wifi pasword")
    assert "refdesk: give a number" in _run(desk, chat.id, "!faq send 7")
    assert "search first" in _run(desk, chat.id, "!faq send 1", staff_id="@other:x")  # lists are per librarian
    reply = _run(desk, chat.id, "!faq send 1", event="$send")
    assert reply == "Sent to the patron (FAQ 1): Pregunte"
    sent = [m for m in store.messages.values() if m.body == "Pregunte"]
    assert len(sent) == 1 and sent[0].author_id == "@lib:x" and sent[0].html is None
    assert _run(desk, chat.id, "!faq send 1", event="$send") is None  # a redelivered event sends nothing more
    assert "No published FAQ answer matches" in _run(desk, chat.id, "!faq search zebra")


def test_send_keeps_formatting_and_refuses_a_closed_chat():
    desk, store, _ = _desk()
    chat = _answered_chat(desk, language="en")
    desk.sanitise_html = lambda markup: markup  # as if sanitised (adapters.staff_html in production)
    faq_entries.save(desk, FaqArticle(None, "Wifi?", "<p>Ask at the <b>desk</b></p>", status="published"))
    _run(desk, chat.id, "!faq search wifi")
    _run(desk, chat.id, "!faq send 1", event="$s1")
    sent = [m for m in store.messages.values() if m.body == "Ask at the desk"]
    assert sent[0].html == "<p>Ask at the <b>desk</b></p>"
    staff.close_by_staff(desk, chat.id, "Lib")
    assert "has ended" in _run(desk, chat.id, "!faq send 1", event="$s2")
