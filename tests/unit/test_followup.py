"""Follow-up by email: which staff replies become emails, marking a chat, and the resume token."""

from html import escape
from urllib.parse import parse_qs, urlsplit

import pytest

from router import conversations as uc
from router import errors, followup, staff
from router.delivery import deliver_one
from router.journal import Inbound
from router.model import Author, Backend, OutboxKind, Queue
from tests.unit.fakes import FakeStaffChannel, make_desk

GENERAL = Queue("general", "General <Reference>", Backend.MATRIX, "!room:localhost")
SECRET = b"unit-test-secret"


@pytest.fixture
def desk():
    desk_, store, clock, notifier = make_desk(GENERAL)
    desk_.secret, desk_.public_url = SECRET, "https://ask.library.example/"
    return desk_, store


def kinds(store, kind):
    return [item for item in store.outbox if item.kind is kind]


def notices(store):
    return [item.payload["text"] for item in kinds(store, OutboxKind.NOTICE)]


def offline_question(desk_, email="ada@example.org", body="Can I renew a loan twice?"):
    conversation, token = uc.start_conversation(desk_, "general", name="Ada", email=email, offline=True)
    uc.patron_says(desk_, conversation.id, token, body, "q1")
    return conversation, token


class Mailer:
    def __init__(self):
        self.sent = []

    def send(self, to, subject, body, *, message_id, html=None):
        self.sent.append({"to": to, "subject": subject, "body": body, "message_id": message_id, "html": html})


def drain(desk_, mailer, channel=None):
    channels = {Backend.MATRIX: channel or FakeStaffChannel()}
    while deliver_one(desk_, channels, mailer=mailer):
        pass


def test_each_staff_reply_to_an_offline_question_becomes_exactly_one_email(desk):
    desk_, store = desk
    conversation, _ = offline_question(desk_)
    first = staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Yes, twice.", Inbound("matrix", "$1"))
    staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Yes, twice.", Inbound("matrix", "$1"))  # redelivered
    second = staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Online too.", Inbound("matrix", "$2"))
    emails = kinds(store, OutboxKind.FOLLOWUP_EMAIL)
    assert [item.message_id for item in emails] == [first.id, second.id]
    assert all(item.lane == "email" and item.payload == {"to": "ada@example.org"} for item in emails)


def test_internal_notes_are_never_emailed(desk):
    desk_, store = desk
    conversation, _ = offline_question(desk_)
    for note in ("// check the renewals policy", "note: ask Bo", "  // indented"):
        assert staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", note) is None
    assert kinds(store, OutboxKind.FOLLOWUP_EMAIL) == []


def test_a_live_chat_is_not_emailed_until_marked_for_follow_up(desk):
    desk_, store = desk
    conversation, _ = uc.start_conversation(desk_, "general", email="ada@example.org")
    staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Hello!")
    assert kinds(store, OutboxKind.FOLLOWUP_EMAIL) == []
    followup.mark_for_follow_up(desk_, conversation.id, "Ann")
    reply = staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Found it: shelf 3.")
    assert [item.message_id for item in kinds(store, OutboxKind.FOLLOWUP_EMAIL)] == [reply.id]


def test_marking_tells_staff_where_replies_go_and_the_patron_what_happens(desk):
    desk_, store = desk
    conversation, _ = uc.start_conversation(desk_, "general", email="ada@example.org")
    marked = followup.mark_for_follow_up(desk_, conversation.id, "Ann", Inbound("matrix", "$mark"))
    assert marked.follow_up and store.conversations[conversation.id].follow_up
    assert notices(store) == ["Marked for follow-up by Ann: replies in this thread are emailed to ada@example.org."]
    told = [m.body for m in store.messages.values() if m.author is Author.SYSTEM]
    assert told == [followup.TOLD_PATRON] and told[0].startswith("A librarian will follow up on your question")


def test_marking_is_idempotent(desk):
    desk_, store = desk
    conversation, _ = uc.start_conversation(desk_, "general", email="ada@example.org")
    followup.mark_for_follow_up(desk_, conversation.id, "Ann", Inbound("matrix", "$a"))
    assert followup.mark_for_follow_up(desk_, conversation.id, "Ann", Inbound("matrix", "$a")) is None  # redelivery
    again = followup.mark_for_follow_up(desk_, conversation.id, "Bo", Inbound("matrix", "$b"))  # a second command
    followup.mark_for_follow_up(desk_, conversation.id, "Ann")
    assert again.follow_up
    assert len(notices(store)) == 1
    assert len([m for m in store.messages.values() if m.author is Author.SYSTEM]) == 1


def test_marking_an_unknown_chat_is_an_error(desk):
    with pytest.raises(errors.ConversationNotFound):
        followup.mark_for_follow_up(desk[0], "missing", "Ann")


def test_without_an_email_address_staff_are_told_never_silently(desk):
    desk_, store = desk
    conversation, _ = uc.start_conversation(desk_, "general")
    followup.mark_for_follow_up(desk_, conversation.id, "Ann")
    assert "but the patron left no email address" in notices(store)[0]
    staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Answer one")
    staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Answer two")
    assert kinds(store, OutboxKind.FOLLOWUP_EMAIL) == []
    assert notices(store)[1:] == [followup.NO_EMAIL_REPLY, followup.NO_EMAIL_REPLY]
    assert all(item.lane == "staff" for item in kinds(store, OutboxKind.NOTICE))


def test_a_closed_chat_cannot_be_marked(desk):
    desk_, store = desk
    conversation, token = uc.start_conversation(desk_, "general", email="ada@example.org")
    uc.close_by_patron(desk_, conversation.id, token)
    followup.mark_for_follow_up(desk_, conversation.id, "Ann")
    assert not store.conversations[conversation.id].follow_up
    assert "cannot be followed up" in notices(store)[-1]


def test_the_resume_token_opens_its_own_conversation_only(desk):
    desk_, _ = desk
    mine, _ = offline_question(desk_)
    other, _ = offline_question(desk_, email="bo@example.org")
    token = followup.resume_token(SECRET, mine.id)
    assert [m.body for m in uc.read_messages(desk_, mine.id, token)] == ["Can I renew a loan twice?"]
    message, created = uc.patron_says(desk_, mine.id, token, "Thanks! And DVDs?", "after-email")
    assert created and message.author is Author.PATRON
    with pytest.raises(errors.ConversationNotFound):
        uc.read_messages(desk_, other.id, token)
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for bad in (tampered, token + "x", "", followup.resume_token(b"another-secret", mine.id)):
        with pytest.raises(errors.ConversationNotFound):
            uc.read_messages(desk_, mine.id, bad)


def test_no_secret_means_no_resume_token_at_all(desk):
    desk_, _ = desk
    conversation, _ = offline_question(desk_)
    desk_.secret = b""
    assert followup.resume_token(b"", conversation.id) == ""
    for guess in ("", followup.resume_token(SECRET, conversation.id)):
        with pytest.raises(errors.ConversationNotFound):
            uc.read_messages(desk_, conversation.id, guess)


def test_the_email_has_text_and_escaped_html_the_question_and_a_working_link(desk):
    desk_, store = desk
    conversation, _ = offline_question(desk_, body="Is <b>this</b> & that on the shelf?")
    reply = staff.staff_says(desk_, conversation.id, "@ann:x", "Ann <Ref>", "Yes: <script>alert(1)</script>")
    mailer = Mailer()
    drain(desk_, mailer)
    [mail] = mailer.sent
    assert mail["to"] == "ada@example.org" and mail["subject"] == "Your question to General <Reference>"
    assert mail["message_id"] == f"refdesk-followup_email-{reply.id}"
    assert "Ann <Ref>" in mail["body"] and "Yes: <script>alert(1)</script>" in mail["body"]
    assert "> Is <b>this</b> & that on the shelf?" in mail["body"]
    html = mail["html"]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Is &lt;b&gt;this&lt;/b&gt; &amp; that" in html and "Ann &lt;Ref&gt;" in html
    assert "General &lt;Reference&gt;" in html

    link = next(line for line in mail["body"].splitlines() if line.startswith("https://"))
    assert f'href="{escape(link)}"' in html
    parts = urlsplit(link)
    assert parts.netloc == "ask.library.example" and parts.path == "/widget/frame"
    assert parse_qs(parts.query) == {"queue": ["general"], "lang": ["en"]}
    assert parts.fragment.startswith("resume=")
    conversation_id, token = parts.fragment.removeprefix("resume=").split(".")
    assert conversation_id == conversation.id
    assert [m.body for m in uc.read_messages(desk_, conversation_id, token)][-1] == reply.body
    assert all(item.delivered_at for item in store.outbox)


def test_a_reply_deleted_before_delivery_is_not_emailed(desk):
    desk_, store = desk
    conversation, _ = offline_question(desk_)
    staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Oops, wrong chat", Inbound("matrix", "$oops"))
    staff.staff_deletes(desk_, "$oops", conversation_id=conversation.id)
    mailer = Mailer()
    drain(desk_, mailer)
    assert mailer.sent == [] and kinds(store, OutboxKind.FOLLOWUP_EMAIL)[0].delivered_at is not None


def test_without_a_mail_server_the_email_waits_and_never_blocks_the_thread(desk):
    desk_, store = desk
    conversation, _ = offline_question(desk_)
    staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Yes.")
    channel = FakeStaffChannel()
    for _ in range(20):
        deliver_one(desk_, {Backend.MATRIX: channel}, mailer=None)
    email = kinds(store, OutboxKind.FOLLOWUP_EMAIL)[0]
    assert email.delivered_at is None and "REFDESK_SMTP_HOST" in email.last_error
    assert all(item.delivered_at for item in store.outbox if item.lane == "staff")


@pytest.mark.parametrize(
    ("language", "subject", "phrase"),
    [
        ("es-MX", "Su pregunta a General <Reference>", "Para leer toda la conversación y responder, abra:"),
        ("fr", "Votre question à General <Reference>", "Pour lire toute la conversation et répondre, ouvrez :"),
        ("de", "Your question to General <Reference>", "To read the whole conversation and reply, open:"),
    ],
)
def test_the_email_speaks_the_patrons_language(desk, language, subject, phrase):
    desk_, _ = desk
    conversation, _ = uc.start_conversation(desk_, "general", offline=True, email="ada@example.org", language=language)
    staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Sí / Oui / Yes")
    mailer = Mailer()
    drain(desk_, mailer)
    [mail] = mailer.sent
    assert mail["subject"] == subject and phrase in mail["body"]
    assert f'<html lang="{language[:2] if language != "de" else "en"}">' in mail["html"]
