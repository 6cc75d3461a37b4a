"""A conversation as plain text, for the patron's "email me the transcript"."""

from __future__ import annotations

from router.model import Author, Conversation, Message, Queue


def transcript_email(queue: Queue, conversation: Conversation, messages: list[Message]) -> tuple[str, str]:
    """(subject, body). Internal notes were never stored, so they can never leak into a transcript."""
    lines = [f"Your chat with {queue.name}, {conversation.created_at:%Y-%m-%d %H:%M} UTC", ""]
    for message in messages:
        if message.deleted_at is not None:
            continue
        who = {Author.PATRON: conversation.name or "You", Author.SYSTEM: "refdesk"}.get(
            message.author, message.author_name or "Librarian"
        )
        text = message.body + "".join(f"\n  [file: {file['name']}]" for file in message.attachments)
        lines.append(f"[{message.created_at:%H:%M}] {who}: {text}")
    lines += ["", "This transcript was sent because it was requested in the chat."]
    return f"Your chat transcript — {queue.name}", "\n".join(lines)
