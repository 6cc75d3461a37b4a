"""The published FAQ for patrons: pages (`/faq`, `/faq/<id>-<slug>`) and the JSON API (`/api/v1/faq`).

Everything here shows published entries only (a draft, or an id that never existed, is a 404 that
says the same thing); the entries themselves come from `router.faq_entries`. The pages are plain
server-rendered HTML with no script at all (search is a GET form), under the patron pages' policy:
nothing from any other origin (web/security_headers.py). Usage is counted without anything about
the patron (router.faq_usage).

An entry's URL is `/faq/<id>-<slug>`: the id is what is stable, the slug is the question as it
reads today; an old or missing slug redirects (301) to the current one, so a link never breaks
when staff reword a question.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from adapters.staff_html import sanitise
from router import errors, faq_entries, faq_usage
from router.queue_setup import SLUG
from web.context import container, desk
from web.validation import InvalidField, check_text, json_body
from web.widget import catalogues, language

pages = Blueprint("faq", __name__)
api = Blueprint("faq_api", __name__, url_prefix="/api/v1")

MAX_QUERY = 200
MAX_LIMIT = 20
SUGGESTIONS = 3
PAGE_SIZE = 50
TOPIC = re.compile(r"[\w][\w \-]{0,63}")


def slug_of(question: str) -> str:
    """The question as a URL slug: ASCII words joined by dashes (at most 60 characters), never empty."""
    ascii_text = unicodedata.normalize("NFKD", question).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = "-".join(words)[:60].rstrip("-")
    return slug or "answer"


def entry_path(article: Any) -> str:
    return url_for("faq.entry_page", article_id=article.id, slug=slug_of(article.question))


def published(article: Any) -> bool:
    return article is not None and article.status == "published"


# --- input, checked before anything reaches a query ------------------------------------------------


def query_words(raw: str | None) -> str:
    words = check_text("q", raw) or ""
    if len(words) > MAX_QUERY:
        raise InvalidField("q", f"is longer than {MAX_QUERY} characters")
    return " ".join(words.split())


def query_language(raw: str | None) -> str | None:
    try:
        return faq_usage.check_language(raw or None)
    except errors.InvalidInput:
        raise InvalidField("lang", "must be a language code such as 'en' or 'pt-BR'") from None


def query_queue(raw: str | None) -> str | None:
    """A queue slug, checked for shape then for existence (an unknown queue is a 404, as elsewhere)."""
    if not raw:
        return None
    if not SLUG.fullmatch(raw):
        raise InvalidField("queue", "must be a queue's short name (lower-case letters, digits and dashes)")
    with desk().uow(read_only=True) as uow:
        if uow.queues.get(raw) is None:
            raise errors.UnknownQueue(f"no queue named {raw!r}")
    return raw


def query_limit(raw: str | None, default: int, most: int) -> int:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= most:
        raise InvalidField("limit", f"must be a whole number from 1 to {most}")
    return int(raw)


def query_topic(raw: str | None) -> str | None:
    if not raw:
        return None
    if not TOPIC.fullmatch(raw):
        raise InvalidField("topic", "must be a topic's name (letters, digits, spaces and dashes, up to 64)")
    return raw


# --- finding entries -----------------------------------------------------------------------------


def in_scope(article: Any, lang: str | None, queue: str | None, topic: str | None) -> bool:
    """A queue's FAQ holds its own entries and the whole library's (queue None)."""
    return (
        published(article)
        and (lang is None or article.language == lang)
        and (queue is None or article.queue_slug in (None, queue))
        and (topic is None or topic in article.topics)
    )


def find(words: str, lang: str | None, queue: str | None, topic: str | None, limit: int) -> list[Any]:
    """Published entries for a search (best first) or, without words, the newest first: the database filters
    and limits both, so at most `limit` entries are loaded (in_scope only re-checks those few)."""
    if words:
        hits = faq_entries.search(
            desk(), words, language=lang, queue=queue, limit=limit, published_only=True, topic=topic
        )
        return [hit.article for hit in hits if in_scope(hit.article, lang, queue, topic)][:limit]
    return faq_entries.newest(desk(), language=lang, queue=queue, topic=topic, limit=limit)


def article_view(article: Any) -> dict[str, Any]:
    """An entry as the API shows it. The answer is allowlisted HTML; it is cleaned once more here, because
    the widget inserts it as HTML and this is the last server-side step before it does."""
    moment = article.published_at or article.updated_at
    return {
        "id": article.id,
        "question": article.question,
        "answer": sanitise(article.answer or ""),
        "language": article.language,
        "queue": article.queue_slug,
        "topics": list(article.topics),
        "url": entry_path(article),
        "published_at": moment.isoformat() if moment else None,
    }


def count_search(words: str, found: int, lang: str | None, queue: str | None) -> None:
    faq_usage.searched(desk(), words, found, lang, queue, container().settings.card_number_pattern)


# --- the JSON API --------------------------------------------------------------------------------


class NotPublished(errors.ConversationNotFound):
    """A draft and an id that never existed answer alike (404): drafts are nobody's business outside the desk."""

    code = "not_found"

    def __init__(self) -> None:
        super().__init__("no published FAQ entry with this id")


@api.get("/faq")
def search():
    """`?q=` words, `lang=` entry language, `queue=` a queue's FAQ (its entries and the whole library's),
    `topic=`, `limit=` (1-20). `suggest=1` marks the widget's as-you-type look-ups: those are not counted as
    searches and their words are never kept (they are a question to a librarian, half typed)."""
    suggest = request.args.get("suggest", "") == "1"
    words = query_words(request.args.get("q"))
    lang = query_language(request.args.get("lang"))
    queue = query_queue(request.args.get("queue"))
    topic = query_topic(request.args.get("topic"))
    most = SUGGESTIONS if suggest else MAX_LIMIT
    limit = query_limit(request.args.get("limit"), SUGGESTIONS if suggest else 10, most)
    articles = find(words, lang, queue, topic, limit)
    if words and not suggest:
        count_search(words, len(articles), lang, queue)
    response = jsonify({"results": [article_view(a) for a in articles], "count": len(articles)})
    response.headers["Cache-Control"] = "no-store"
    return response


@api.get("/faq/<int:article_id>")
def article(article_id: int):
    """One published entry (the widget's link target for a shared answer; the page is /faq/<id>-<slug>)."""
    found = faq_entries.get(desk(), article_id) if article_id < 2**31 else None
    if not published(found):
        raise NotPublished()
    return jsonify(article_view(found))


def usage_ids(value: Any) -> list[int]:
    if not isinstance(value, list) or not value or len(value) > SUGGESTIONS:
        raise InvalidField("articles", f"must be a list of 1 to {SUGGESTIONS} entry ids")
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**31 for i in value):
        raise InvalidField("articles", "must hold entry ids (positive whole numbers)")
    return value


@api.post("/faq/usage")
def usage():
    """What the widget reports: `{"event": "shown"|"opened"|"answered", "articles": [ids], "queue", "lang"}`.
    Counted per day, entry, language and queue; nothing about who (router.faq_usage). 204, no body."""
    data = json_body(container().settings.max_body)
    if not isinstance(data, dict):
        raise errors.InvalidInput("request body must be a JSON object")
    event = data.get("event")
    if event not in faq_usage.WIDGET_KINDS:
        raise InvalidField("event", f"must be one of {', '.join(faq_usage.WIDGET_KINDS)}")
    ids = usage_ids(data.get("articles"))
    lang = data.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise InvalidField("lang", "must be a string")
    queue = data.get("queue")
    if queue is not None and not isinstance(queue, str):
        raise InvalidField("queue", "must be a string")
    faq_usage.count(desk(), event, ids, query_language(lang), query_queue(queue))
    return "", 204


# --- the pages -----------------------------------------------------------------------------------


def page_strings(lang: str) -> dict[str, str]:
    return {k: v for k, v in catalogues()[lang].items() if k.startswith(("faqpage.", "frame."))}


def bad_page_input(exc: errors.RefdeskError):
    """A page's bad query is a plain 400/404 page in words, never a stack trace."""
    abort(404 if isinstance(exc, errors.UnknownQueue) else 400, str(exc))


@pages.errorhandler(400)
@pages.errorhandler(404)
def problem_page(exc: HTTPException):
    """A withdrawn, unpublished or unknown entry (or a bad search) as a page of the FAQ, in the patron's language,
    that leads back to the answers: a shared link to an entry that was unpublished lands somewhere useful, not on
    the framework's bare English page (tiny on a phone, no way on)."""
    ui = language(request.args.get("lang") or request.accept_languages.best_match(list(catalogues())))
    t = page_strings(ui)
    missing = exc.code == 404
    heading = t["faqpage.missing"] if missing else t["faqpage.bad_search"]
    text = t["faqpage.missing_text"] if missing else t["faqpage.bad_search_text"]  # the check's words are English
    return render_template("faq/problem.html", lang=ui, t=t, heading=heading, text=text), exc.code


@pages.get("/faq")
def library_page():
    """The whole library's FAQ, or a queue's (`?queue=`): a search box, topics, the answers."""
    ui = language(request.args.get("lang") or request.accept_languages.best_match(list(catalogues())))
    try:
        words = query_words(request.args.get("q"))
        lang = query_language(request.args.get("lang"))
        queue = query_queue(request.args.get("queue"))
        topic = query_topic(request.args.get("topic"))
    except errors.RefdeskError as exc:
        bad_page_input(exc)
    # The topics with their counts, the total and (unless searching) a page of the newest answers: counted and
    # limited by the database, whatever the number of entries (bench/faq_search.py measures it with 10,000).
    shown = 0 if words else PAGE_SIZE  # a search lists its hits, not the newest
    published = faq_entries.published_faq(desk(), language=lang, queue=queue, topic=topic, limit=shown)
    articles = find(words, lang, queue, topic, PAGE_SIZE) if words else published.articles
    if words:
        count_search(words, len(articles), lang, queue)
    queue_name = None
    if queue:
        with desk().uow(read_only=True) as uow:
            queue_name = uow.queues.get(queue).name
    return render_template(
        "faq/library.html",
        lang=ui,
        t=page_strings(ui),
        articles=[(a, entry_path(a)) for a in articles],
        topics=sorted(published.topics.items()),
        words=words,
        topic=topic,
        queue=queue,
        only_lang=lang,  # the language filter, kept by the search form and the topic links
        queue_name=queue_name,
        searched=bool(words or topic),
        total=published.total,
    )


@pages.get("/faq/<int:article_id>")
@pages.get("/faq/<int:article_id>-<slug>")
def entry_page(article_id: int, slug: str = ""):
    found = faq_entries.get(desk(), article_id) if article_id < 2**31 else None
    if found is None and article_id < 2**31 and (kept := faq_entries.resolve(desk(), article_id)) is not None:
        found = faq_entries.get(desk(), kept)  # merged into another entry: its old links lead there
    if not published(found):
        abort(404)
    if article_id != found.id or slug != slug_of(found.question):
        return redirect(entry_path(found), 301)
    lang = found.language if found.language in catalogues() else "en"
    faq_usage.count(desk(), "view", [found.id], found.language, found.queue_slug)
    back = url_for("faq.library_page", queue=found.queue_slug, lang=found.language)  # the list in the entry's language
    return render_template(
        "faq/entry.html",
        lang=lang,
        t=page_strings(lang),
        article=found,
        answer=sanitise(found.answer or ""),
        back=back,
    )
