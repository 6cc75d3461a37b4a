"""The follow-up email: a staff reply for a patron who left, as plain text and HTML.

Every piece of patron or staff text goes into the HTML through `html.escape`, and the
link is the only markup built from data (an escaped attribute of our own URL).
"""

from __future__ import annotations

from html import escape

from router.model import Author, Conversation, Message, Queue

HTML = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{subject}</title></head>
<body style="font-family: sans-serif; line-height: 1.5; max-width: 40em">
<p>{greeting}</p>
<p>{answered}</p>
<div style="white-space: pre-wrap; border-left: 4px solid #2a6; padding: 0.5em 1em">{reply}</div>
{files}{question}{link}
<p style="color: #555; font-size: 0.9em">{footer}</p>
</body></html>
"""

WORDS = {
    "en": {
        "subject": "Your question to {queue}",
        "hello": "Hello,",
        "hello_name": "Hello {name},",
        "answered": "{librarian} from {queue} answered your question:",
        "librarian": "A librarian",
        "file": "File: {name} (open the conversation to download it)",
        "question": "Your question:",
        "open": "To read the whole conversation and reply, open:",
        "link": "Read the whole conversation and reply",
        "no_link": "To reply, return to the chat on the library's website.",
        "footer_link": "Anyone with this email can open the conversation, so please do not forward it.",
        "footer": "This email was sent because you asked a question in the library's chat.",
    },
    "es": {
        "subject": "Su pregunta a {queue}",
        "hello": "Hola:",
        "hello_name": "Hola, {name}:",
        "answered": "{librarian}, de {queue}, respondió a su pregunta:",
        "librarian": "Un bibliotecario",
        "file": "Archivo: {name} (abra la conversación para descargarlo)",
        "question": "Su pregunta:",
        "open": "Para leer toda la conversación y responder, abra:",
        "link": "Leer toda la conversación y responder",
        "no_link": "Para responder, vuelva al chat en el sitio web de la biblioteca.",
        "footer_link": "Cualquiera que tenga este correo puede abrir la conversación: por favor, no lo reenvíe.",
        "footer": "Recibe este correo porque hizo una pregunta en el chat de la biblioteca.",
    },
    "fr": {
        "subject": "Votre question à {queue}",
        "hello": "Bonjour,",
        "hello_name": "Bonjour {name},",
        "answered": "{librarian} ({queue}) a répondu à votre question :",
        "librarian": "Un bibliothécaire",
        "file": "Fichier : {name} (ouvrez la conversation pour le télécharger)",
        "question": "Votre question :",
        "open": "Pour lire toute la conversation et répondre, ouvrez :",
        "link": "Lire toute la conversation et répondre",
        "no_link": "Pour répondre, revenez au chat sur le site de la bibliothèque.",
        "footer_link": "Toute personne ayant ce courriel peut ouvrir la conversation : merci de ne pas le transférer.",
        "footer": "Vous recevez ce courriel parce que vous avez posé une question dans le chat de la bibliothèque.",
    },
}


def followup_email(
    queue: Queue, conversation: Conversation, reply: Message, history: list[Message], link: str | None
) -> tuple[str, str, str]:
    """(subject, plain text, html) for one staff reply, in the patron's language (en, es or fr)."""
    language = (conversation.language or "en")[:2].lower()
    words = WORDS.get(language, WORDS["en"])
    subject = words["subject"].format(queue=queue.name)
    librarian = reply.author_name or words["librarian"]
    greeting = words["hello_name"].format(name=conversation.name) if conversation.name else words["hello"]
    answered = words["answered"].format(librarian=librarian, queue=queue.name)
    question = _original_question(history)
    files = [file["name"] for file in reply.attachments]
    footer = words["footer_link"] if link else words["footer"]

    text = [greeting, "", answered, "", reply.body]
    text += [f"[{words['file'].format(name=name)}]" for name in files]
    if question is not None:
        text += ["", words["question"], *(f"> {line}" for line in question.splitlines() or [""])]
    text += ["", words["open"], link] if link else ["", words["no_link"]]
    text += ["", footer]

    html_files = "".join(f"<p>{escape(words['file'].format(name=name))}</p>\n" for name in files)
    html_question = (
        f'<p>{escape(words["question"])}</p>\n<blockquote style="white-space: pre-wrap; color: #444">'
        f"{escape(question)}</blockquote>\n"
        if question is not None
        else ""
    )
    html_link = (
        f'<p><a href="{escape(link, quote=True)}">{escape(words["link"])}</a></p>\n'
        if link
        else f"<p>{escape(words['no_link'])}</p>\n"
    )
    html = HTML.format(
        lang=language if language in WORDS else "en",
        subject=escape(subject),
        greeting=escape(greeting),
        answered=escape(answered),
        reply=escape(reply.body),
        files=html_files,
        question=html_question,
        link=html_link,
        footer=escape(footer),
    )
    return subject, "\n".join(text), html


def _original_question(history: list[Message]) -> str | None:
    """The patron's first message that still has words in it."""
    for message in history:
        if message.author is Author.PATRON and message.deleted_at is None and message.body.strip():
            return message.body
    return None
