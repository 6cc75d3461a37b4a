"""FAQ reuse from the staff thread end to end: `!faq search` / `!faq send` on a real Synapse and in the Slack
emulator (with `/refdesk faq`), and `!faq` drafting an entry from the chat."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from adapters.slack import faq_modal, render
from router import faq_entries
from router.faq_entries import FaqArticle
from tests.e2e.conftest import CHANNEL, Desk, running_desk, wait_until
from tests.e2e.librarian import in_thread, roots
from tests.e2e.patron import say, start_chat, stream

pytestmark = [pytest.mark.e2e]
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def database_url(request, database: str) -> str | None:
    return request.getfixturevalue("postgres_url") if database == "postgres" else None


@pytest.fixture(params=DATABASES)
def desk(homeserver, librarian, tmp_path, request, mailbox) -> Iterator[Desk]:
    """The e2e conftest's desk on each database: `!faq search` is FTS5 on one, tsvector on the other."""
    with running_desk(
        homeserver, librarian, tmp_path, request, mailbox, database_url=database_url(request, request.param)
    ) as running:
        yield running


def knowledge_base(desk) -> None:
    """A published answer with a published Spanish variant, and an unrelated one."""
    english = faq_entries.save(
        desk, FaqArticle(None, "What is the wifi password?", "<p>Ask at the desk</p>", status="published")
    )
    faq_entries.save(
        desk,
        FaqArticle(
            None,
            "¿Contraseña del wifi?",
            "<p>Pregunte en el mostrador</p>",
            "es",
            translation_of=english.id,
            status="published",
        ),
    )
    faq_entries.save(desk, FaqArticle(None, "Printing costs?", "<p>10 cents a page</p>", status="published"))


def notices_in(events, root_id):
    return [e["content"]["body"] for e in in_thread(events, root_id) if e["content"].get("msgtype") == "m.notice"]


@pytest.mark.synapse
def test_matrix_faq_search_lists_matches_and_send_replies_in_the_patrons_language(desk):
    knowledge_base(desk.container.desk)
    chat = start_chat(desk, "general", name="Ada", language="es", page_url="https://library.example/faq-matrix")
    sse = stream(desk, chat)
    say(desk, chat, "¿Cuál es la contraseña del wifi? Soy Ada", "c1")
    librarian = desk.librarian
    root = librarian.wait_for(lambda events: roots(events, desk.room_id))[0]["event_id"]

    librarian.reply_in_thread(desk.room_id, root, "!faq search wifi pasword")
    listing = librarian.wait_for(
        lambda events: [n for n in notices_in(events, root) if n.startswith("FAQ answers for")]
    )[0]
    assert listing.splitlines()[1] == "1. What is the wifi password? [en] — Ask at the desk"
    librarian.reply_in_thread(desk.room_id, root, "!faq send 1")
    reply = sse.next_message(lambda m: m["author"] == "staff")
    assert (reply["body"], reply["author_name"]) == ("Pregunte en el mostrador", "Ann Librarian")
    librarian.wait_for(
        lambda events: "Sent to the patron (FAQ 1): Pregunte en el mostrador" in notices_in(events, root)
    )

    librarian.reply_in_thread(desk.room_id, root, "!faq")
    drafted = librarian.wait_for(lambda events: [n for n in notices_in(events, root) if "FAQ draft #" in n])[0]
    draft = faq_entries.get(desk.container.desk, int(re.search(r"FAQ draft #(\d+)", drafted).group(1)))
    assert (draft.status, draft.source_conversation_id, draft.language) == ("draft", chat["id"], "es")
    assert draft.question == "¿Cuál es la contraseña del wifi? Soy [name]"
    sse.close()


@pytest.mark.slack
@pytest.mark.parametrize("database", DATABASES)
def test_slack_faq_search_and_send_in_a_thread_and_by_slash_command(emulator, tmp_path, request, database):
    from tests.e2e.test_slack_loop import root_for, start_slack_desk, thread_texts

    url = database_url(request, database)
    desk, server = start_slack_desk(emulator, tmp_path, url, slack_post_rate=20.0, slack_post_burst=20)
    try:
        knowledge_base(desk.container.desk)
        chat = start_chat(desk, "ask", name="Bo", language="en", page_url="https://library.example/faq-slack")
        sse = stream(desk, chat)
        root = root_for(emulator, "/faq-slack")
        outside = emulator.slash("U0ANN", CHANNEL, "/refdesk", "faq printing")["body"]["text"]
        assert "1. Printing costs? [en]" in outside and "You do not hold exactly one chat here" in outside

        emulator.staff_posts("U0ANN", CHANNEL, "!faq search wifi", thread_ts=root["ts"])
        listing = wait_until(lambda: [t for t in thread_texts(emulator, root["ts"]) if t.startswith("FAQ answers")])
        assert "1. What is the wifi password? [en]" in listing[0] and "2." not in listing[0]  # variants are one
        emulator.staff_posts("U0ANN", CHANNEL, "!faq send 1", thread_ts=root["ts"])
        reply = sse.next_of("message").data
        assert (reply["author"], reply["body"]) == ("staff", "Ask at the desk")

        held = emulator.slash("U0ANN", CHANNEL, "/refdesk", "faq printing cost")["body"]["text"]
        assert "1. Printing costs?" in held and "`!faq send N` in the chat's thread" in held
        emulator.staff_posts("U0ANN", CHANNEL, "!faq send 1", thread_ts=root["ts"])  # the slash search's list
        assert sse.next_of("message").data["body"] == "10 cents a page"

        emulator.click("U0ANN", CHANNEL, root["ts"], render.FAQ_SEARCH_ACTION, value=chat["id"])  # the root's button
        view = wait_until(lambda: [v for v in emulator.views.values() if v["callback_id"] == faq_modal.FAQ_SEARCH_VIEW])
        emulator.submit_view(
            "U0ANN", view[0]["id"], {"words": {"words": {"type": "plain_text_input", "value": "wifi"}}}
        )
        shown = wait_until(lambda: [e for e in emulator.ephemerals if e.get("thread_ts") == root["ts"]])
        assert shown[0]["user"] == "U0ANN" and "1. What is the wifi password? [en]" in shown[0]["text"]
        emulator.staff_posts("U0ANN", CHANNEL, "!faq send 1", thread_ts=root["ts"])  # the dialog's search's list
        assert sse.next_of("message").data["body"] == "Ask at the desk"
        sse.close()
    finally:
        server.shutdown()
        desk.worker.stop()
        desk.container.close()
