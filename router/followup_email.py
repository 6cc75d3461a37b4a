"""The follow-up email: a staff reply for a patron who left, as plain text and HTML.

Every piece of patron or staff text goes into the HTML through `html.escape`, and the
link is the only markup built from data (an escaped attribute of our own URL).
"""

from __future__ import annotations

from html import escape

from router.model import Author, Conversation, Message, Queue

HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{subject}</title></head>
<body style="font-family: sans-serif; line-height: 1.5; max-width: 40em">
<p>{greeting}</p>
<p><strong>{librarian}</strong> from {queue} answered your question:</p>
<div style="white-space: pre-wrap; border-left: 4px solid #2a6; padding: 0.5em 1em">{reply}</div>
{files}{question}{link}
<p style="color: #555; font-size: 0.9em">{footer}</p>
</body></html>
"""

FOOTER = "Anyone with this email can open the conversation, so please do not forward it."


def followup_email(
    queue: Queue, conversation: Conversation, reply: Message, history: list[Message], link: str | None
) -> tuple[str, str, str]:
    """(subject, plain text, html) for one staff reply."""
    subject = f"Your question to {queue.name}"
    librarian = reply.author_name or "A librarian"
    greeting = f"Hello {conversation.name}," if conversation.name else "Hello,"
    question = _original_question(history)
    files = [file["name"] for file in reply.attachments]

    text = [greeting, "", f"{librarian} from {queue.name} answered your question:", "", reply.body]
    text += [f"[file: {name}]" for name in files]
    if question is not None:
        text += ["", "Your question:", *(f"> {line}" for line in question.splitlines() or [""])]
    if link:
        text += ["", "To read the whole conversation and reply, open:", link]
    else:
        text += ["", "To reply, return to the chat on the library's website."]
    text += ["", FOOTER if link else "This email was sent because you asked a question in the library's chat."]

    html_files = "".join(f"<p>File: {escape(name)} (open the conversation to download it)</p>\n" for name in files)
    html_question = (
        '<p>Your question:</p>\n<blockquote style="white-space: pre-wrap; color: #444">'
        f"{escape(question)}</blockquote>\n"
        if question is not None
        else ""
    )
    html_link = (
        f'<p><a href="{escape(link, quote=True)}">Read the whole conversation and reply</a></p>\n'
        if link
        else "<p>To reply, return to the chat on the library's website.</p>\n"
    )
    html = HTML.format(
        subject=escape(subject),
        greeting=escape(greeting),
        librarian=escape(librarian),
        queue=escape(queue.name),
        reply=escape(reply.body),
        files=html_files,
        question=html_question,
        link=html_link,
        footer=escape(FOOTER if link else "This email was sent because you asked a question in the library's chat."),
    )
    return subject, "\n".join(text), html


def _original_question(history: list[Message]) -> str | None:
    """The patron's first message that still has words in it."""
    for message in history:
        if message.author is Author.PATRON and message.deleted_at is None and message.body.strip():
            return message.body
    return None
