"""A conversation as plain text, for the patron's "email me the transcript", in their language."""

from __future__ import annotations

from router.model import Author, Conversation, Message, Queue

WORDS = {
    "en": {
        "subject": "Your chat transcript — {queue}",
        "heading": "Your chat with {queue}, {when} UTC",
        "you": "You",
        "librarian": "Librarian",
        "file": "file",
        "footer": "This transcript was sent because it was requested in the chat.",
    },
    "es": {
        "subject": "Transcripción de su chat — {queue}",
        "heading": "Su chat con {queue}, {when} UTC",
        "you": "Usted",
        "librarian": "Bibliotecario",
        "file": "archivo",
        "footer": "Se envió esta transcripción porque se pidió en el chat.",
    },
    "fr": {
        "subject": "Transcription de votre conversation — {queue}",
        "heading": "Votre conversation avec {queue}, {when} UTC",
        "you": "Vous",
        "librarian": "Bibliothécaire",
        "file": "fichier",
        "footer": "Cette transcription a été envoyée parce qu'elle a été demandée dans le chat.",
    },
}


def transcript_email(queue: Queue, conversation: Conversation, messages: list[Message]) -> tuple[str, str]:
    """(subject, body). Internal notes were never stored, so they can never leak into a transcript."""
    words = WORDS.get((conversation.language or "en")[:2].lower(), WORDS["en"])
    when = f"{conversation.created_at:%Y-%m-%d %H:%M}"
    lines = [words["heading"].format(queue=queue.name, when=when), ""]
    for message in messages:
        if message.deleted_at is not None:
            continue
        who = {Author.PATRON: conversation.name or words["you"], Author.SYSTEM: "refdesk"}.get(
            message.author, message.author_name or words["librarian"]
        )
        text = message.body + "".join(f"\n  [{words['file']}: {file['name']}]" for file in message.attachments)
        lines.append(f"[{message.created_at:%H:%M}] {who}: {text}")
    lines += ["", words["footer"]]
    return words["subject"].format(queue=queue.name), "\n".join(lines)
