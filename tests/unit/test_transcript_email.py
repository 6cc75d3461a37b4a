"""The transcript email: every line the patron saw, none they did not, in the patron's language."""

from datetime import UTC, datetime

import pytest

from router.model import Author, Backend, Message, Queue
from router.transcript import transcript_email
from tests.unit.builders import make_conversation

QUEUE = Queue("general", "General", Backend.MATRIX, "!r:l")
AT = datetime(2026, 11, 2, 14, 5, tzinfo=UTC)


def message(seq, author, body, **extra):
    return Message(f"m{seq}", "c1", seq, author, body, AT, **extra)


@pytest.mark.parametrize(
    ("language", "subject", "you", "footer"),
    [
        (None, "Your chat transcript — General", "You", "This transcript was sent"),
        ("es-ES", "Transcripción de su chat — General", "Usted", "Se envió esta transcripción"),
        ("fr", "Transcription de votre conversation — General", "Vous", "Cette transcription a été envoyée"),
    ],
)
def test_the_transcript_reads_in_the_patrons_language(language, subject, you, footer):
    conversation = make_conversation("$root", language=language)
    messages = [
        message(1, Author.PATRON, "Hello?"),
        message(2, Author.STAFF, "Hi, I am Ann.", author_name="Ann"),
        message(3, Author.STAFF, "gone", author_name="Ann", deleted_at=AT),
        message(4, Author.STAFF, "", attachments=[{"id": "f", "name": "map.pdf"}]),
    ]
    got_subject, body = transcript_email(QUEUE, conversation, messages)
    assert got_subject == subject
    assert f"[14:05] {you}: Hello?" in body and "[14:05] Ann: Hi, I am Ann." in body
    assert "gone" not in body and "map.pdf" in body and footer in body
