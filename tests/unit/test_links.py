"""`!show URL [text]` link cards, the queue's list of sites, the patron's "opened", and the screen-picture cap."""

import pytest

from router import commands, errors, journal, links
from router import conversations as uc
from router.model import Backend, OutboxKind, Queue
from tests.unit.fakes import make_desk


@pytest.fixture
def chat():
    desk, store, *_ = make_desk(Queue("general", "General", Backend.MATRIX, "!room:localhost"))
    conversation, token = uc.start_conversation(desk, "general")
    return desk, store, conversation.id, token


def run(desk, conversation_id, text):
    context = commands.CommandContext(["general"], "@ada:x", "Ada Lovelace", conversation_id=conversation_id)
    return commands.run(desk, context, text)


def staff_messages(store, conversation_id):
    return [m for m in store.messages.values() if m.conversation_id == conversation_id and m.author.value == "staff"]


def test_show_sends_the_patron_a_link_card_and_tells_staff(chat):
    desk, store, conversation_id, _ = chat
    answer = run(desk, conversation_id, "!show https://library.example/ill Interlibrary loan form")
    assert answer.startswith("Sent to the patron: a link card to https://library.example/ill (Interlibrary loan form)")
    [message] = staff_messages(store, conversation_id)
    assert message.link == {"url": "https://library.example/ill", "text": "Interlibrary loan form"}
    assert message.body == "Interlibrary loan form – https://library.example/ill"  # transcripts, emails, plain page
    view = journal.message_view(message)
    assert view["link"] == {"url": "https://library.example/ill", "text": "Interlibrary loan form"}
    assert view["author_name"] == "Ada Lovelace"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("!show ftp://x", "only http:// and https:// links"),
        ("!show javascript:alert(1)", "only http:// and https:// links"),
        ("!show", "give the address of the page"),
        ("!show https://", "has no site name"),
        ("!show https://user:pw@library.example/", "user name or password"),
        ("!show https://library.example:99999/", "not a valid web address"),
    ],
)
def test_show_refuses_what_is_not_an_http_link_with_a_clear_answer(chat, text, fragment):
    desk, store, conversation_id, _ = chat
    answer = run(desk, conversation_id, text)
    assert answer.startswith("refdesk: ") and fragment in answer and "Usage: !show URL" in answer
    assert staff_messages(store, conversation_id) == []


def test_a_queue_list_of_sites_is_enforced_and_allows_subdomains(chat):
    desk, store, conversation_id, _ = chat
    queue = links.set_sites(desk, "general", "https://library.example/\ncatalogue.example, library.example")
    assert queue.link_sites == ["library.example", "catalogue.example"]
    refused = run(desk, conversation_id, "!show https://evil.example/library.example")
    assert refused.startswith("refdesk: evil.example is not on this queue's list of sites")
    assert staff_messages(store, conversation_id) == []
    assert run(desk, conversation_id, "!show https://www.library.example/ill").startswith("Sent to the patron")
    assert run(desk, conversation_id, "!show http://catalogue.example/").startswith("Sent to the patron")
    with pytest.raises(errors.InvalidInput, match="only http"):
        links.set_sites(desk, "general", "ftp://files.example")


def test_the_patron_opening_a_card_tells_staff_once(chat):
    desk, store, conversation_id, token = chat
    run(desk, conversation_id, "!show https://library.example/ill")
    [message] = staff_messages(store, conversation_id)
    before = len(store.outbox)
    assert links.opened(desk, conversation_id, token, message.id) is True
    assert links.opened(desk, conversation_id, token, message.id) is False
    notices = [i for i in store.outbox[before:] if i.kind is OutboxKind.NOTICE]
    assert [i.payload["text"] for i in notices] == ["The patron opened the link you sent: https://library.example/ill"]
    with pytest.raises(errors.ConversationNotFound):
        links.opened(desk, conversation_id, "wrong-token", message.id)
    patron_line = uc.patron_says(desk, conversation_id, token, "thanks", None)[0]
    with pytest.raises(errors.ConversationNotFound, match="no such link"):
        links.opened(desk, conversation_id, token, patron_line.id)


def test_screen_pictures_are_capped_per_chat_and_other_files_are_not(chat):
    desk, store, conversation_id, token = chat
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
    for n in range(2):
        message, _ = uc.patron_shares_file(
            desk, conversation_id, token, f"s{n}.png", "image/png", png, None, screen_cap=2
        )
        assert message.attachments[0]["screen"] is True
    with pytest.raises(errors.ScreenLimitReached, match="already has 2 pictures of the screen, the most it holds"):
        uc.patron_shares_file(desk, conversation_id, token, "s3.png", "image/png", png, None, screen_cap=2)
    uc.patron_shares_file(desk, conversation_id, token, "plan.png", "image/png", png, None)  # an ordinary file
    with pytest.raises(errors.UnsupportedFile):
        uc.patron_shares_file(desk, conversation_id, token, "s.pdf", "application/pdf", b"%PDF-", None, screen_cap=5)


def test_a_cap_of_zero_turns_screen_pictures_off(chat):
    desk, _, conversation_id, token = chat
    with pytest.raises(errors.ScreenLimitReached, match="does not take pictures of the screen"):
        uc.patron_shares_file(
            desk, conversation_id, token, "s.png", "image/png", b"\x89PNG\r\n\x1a\n", None, screen_cap=0
        )


def test_anonymising_scrubs_a_link_card_s_words_too(chat):
    from router import retention

    desk, store, conversation_id, token = chat
    store.conversations[conversation_id].name = "Ann Lee"
    run(desk, conversation_id, "!show https://library.example/ill?for=ann@example.org ILL form for Ann Lee")
    assert retention.anonymise(desk, conversation_id)
    [message] = staff_messages(store, conversation_id)
    assert message.link == {"url": "https://library.example/ill?for=[email]", "text": "ILL form for [name] [name]"}
    [event] = [e for e in store.events if e.data.get("link")]
    assert event.data["link"] == {
        "url": "https://library.example/ill?for=[email]",
        "text": "ILL form for [name] [name]",
    }
