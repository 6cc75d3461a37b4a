"""The knowledge base: answers staff gave once, drafted from marked chats, reviewed, published, searched.

A chat marked with `!faq` becomes a **draft** (its first answered question, scrubbed like the
export: emails, phones, card numbers, the patron's name); nothing is ever published without an
editor doing it. A draft names the chat it came from so staff can check it; publishing drops that
link for good. Search is the database's full-text search (SQLite FTS5, PostgreSQL tsvector) behind
`uow.faq.search`; this module turns what someone typed into words and, when they find nothing,
tries again with the indexed words closest to the misspelt ones ("moby dik" finds "Moby Dick").
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from router import errors, staff, tagging
from router.faq import pairs
from router.journal import Desk, Inbound
from router.model import Author, FaqArticle, Message, Status
from router.ports import UnitOfWork
from router.scrub import compile_card_pattern, scrub

__all__ = [
    "FaqArticle",
    "FaqHit",
    "PublishedFaq",
    "delete",
    "draft_from_conversation",
    "get",
    "list_articles",
    "mark",
    "merge",
    "newest",
    "publish",
    "published_faq",
    "resolve",
    "save",
    "save_many",
    "search",
    "search_text",
    "send",
    "unpublish",
    "variant",
]

STATUSES = ("draft", "published")
LANGUAGE = re.compile(r"[a-z]{2}")
MAX_QUESTION = 1000
MAX_ANSWER = 20_000  # as adapters.staff_html.MAX_HTML: no answer is longer than a formatted reply may be
MAX_QUERY_WORDS = 8
MAX_WORD = 40
WORD = re.compile(r"[^\W_]+")
TAG = re.compile(r"<[^>]*>")
BLOCK_END = re.compile(r"</(?:p|li|pre|blockquote)>|<br\s*/?>", re.IGNORECASE)
DRAFTED = "faq:drafted:"  # kv key prefix: this chat made a draft once (re-marking makes no duplicate)
FOUND = "faq:found:"  # kv key prefix + conversation + staff id: the ids `!faq search` listed, for `!faq send N`
MERGED = "faq:merged:"  # kv key prefix: a merged-away entry's id -> the entry that absorbed it (stable URLs)


@dataclass
class FaqHit:
    """A search result: the entry and its rank (higher is better; only comparable within one search)."""

    article: FaqArticle
    rank: float


def tokens(text: str) -> list[str]:
    """Lowercase words of letters and digits: the only thing a search sends to the database."""
    return [word[:MAX_WORD] for word in WORD.findall(text.lower())]


def plain_text(answer: str) -> str:
    """An answer's HTML as text, for the search index and for staff platforms that show no HTML."""
    text = BLOCK_END.sub("\n", answer)
    text = html.unescape(TAG.sub("", text))
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def text_to_html(text: str) -> str:
    """Plain text as HTML paragraphs (a blank line between), line breaks kept, everything escaped."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join("<p>" + html.escape(p, quote=False).replace("\n", "<br>") + "</p>" for p in paragraphs)


def clean_answer(desk: Desk, answer: str) -> str:
    """The allowlisted HTML to store; without a sanitiser (unit tests, tools) the text is escaped instead."""
    if desk.sanitise_html is not None:
        return desk.sanitise_html(answer)
    return text_to_html(plain_text(answer))


def _check(desk: Desk, uow: UnitOfWork, article: FaqArticle) -> FaqArticle:
    question = " ".join(article.question.split())
    if not question or len(question) > MAX_QUESTION:
        raise errors.InvalidInput(f"a question needs 1 to {MAX_QUESTION} characters")
    answer = clean_answer(desk, article.answer or "")
    if len(answer) > MAX_ANSWER:
        raise errors.InvalidInput(f"an answer has at most {MAX_ANSWER} characters of HTML")
    language = (article.language or "en").strip().lower()
    if not LANGUAGE.fullmatch(language):
        raise errors.InvalidInput("a language is a two-letter code such as en, es or fr")
    queue = article.queue_slug or None
    if queue is not None and uow.queues.get(queue) is None:
        raise errors.UnknownQueue(f"no queue named {queue!r}")
    if article.status not in STATUSES:
        raise errors.InvalidInput(f"the status is draft or published, not {article.status!r}")
    if article.status == "published" and not plain_text(answer):
        raise errors.InvalidInput("a published entry needs an answer")
    translation_of = article.translation_of
    if translation_of is not None:
        original = uow.faq.get(translation_of)
        if original is None or translation_of == article.id:
            raise errors.InvalidInput(f"there is no other entry #{translation_of} to be a translation of")
        translation_of = original.translation_of or original.id  # variants all point at one original
        if translation_of == article.id:
            raise errors.InvalidInput("an entry cannot be a translation of its own translation")
    return replace(
        article,
        question=question,
        answer=answer,
        language=language,
        queue_slug=queue,
        topics=tagging.check_tags(article.topics),
        translation_of=translation_of,
    )


def _remember(uow: UnitOfWork, article: FaqArticle) -> None:
    found = tokens(" ".join([article.question, plain_text(article.answer), *article.topics]))
    uow.faq.remember_words({word for word in found if 2 <= len(word) <= MAX_WORD})


def save(desk: Desk, article: FaqArticle) -> FaqArticle:
    """Create (no id) or change an entry, checked and its answer sanitised; returns what was stored."""
    now = desk.clock.now()
    with desk.uow() as uow:
        if article.id is not None:
            stored = uow.faq.get(article.id)
            if stored is None:
                raise errors.InvalidInput(f"there is no FAQ entry #{article.id}")
            article = replace(
                article,
                created_at=stored.created_at,
                published_at=(stored.published_at or now) if article.status == "published" else None,
                source_conversation_id=None if article.status == "published" else stored.source_conversation_id,
            )
        checked = _check(desk, uow, article)
        checked.updated_at = now
        if checked.id is None:
            checked.created_at = now
            if checked.status == "published":
                checked.published_at, checked.source_conversation_id = now, None
            uow.faq.add(checked)
        else:
            uow.faq.save(checked)
        _remember(uow, checked)
        uow.commit()
    return checked


def save_many(desk: Desk, articles: list[FaqArticle]) -> list[FaqArticle]:
    """New entries (a bulk import) in one transaction: one bad entry stores none, and says which it is."""
    now = desk.clock.now()
    stored = []
    with desk.uow() as uow:
        for number, article in enumerate(articles, 1):
            try:
                checked = _check(desk, uow, replace(article, id=None, source_conversation_id=None))
            except errors.RefdeskError as exc:
                raise errors.InvalidInput(f"entry {number} ({article.question[:40]!r}): {exc}") from exc
            checked.created_at = checked.updated_at = now
            checked.published_at = now if checked.status == "published" else None
            uow.faq.add(checked)
            _remember(uow, checked)
            stored.append(checked)
        uow.commit()
    return stored


def get(desk: Desk, article_id: int) -> FaqArticle | None:
    with desk.uow(read_only=True) as uow:
        return uow.faq.get(article_id)


def resolve(desk: Desk, article_id: int) -> int | None:
    """The entry an id stands for now: itself, the entry it was merged into, or None if it is gone."""
    with desk.uow(read_only=True) as uow:
        for _ in range(20):  # merges chain (a into b, b into c); a loop cannot, but stop anyway
            if uow.faq.get(article_id) is not None:
                return article_id
            target = uow.kv.get(f"{MERGED}{article_id}")
            if target is None:
                return None
            article_id = int(target)
    return None


def list_articles(
    desk: Desk,
    status: str | None = None,
    language: str | None = None,
    queue_slug: str | None = None,
    source_conversation_id: str | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[FaqArticle]:
    """Entries, most recently changed first; `queue_slug` "" lists the whole-library ones."""
    if status is not None and status not in STATUSES:
        raise errors.InvalidInput(f"the status is draft or published, not {status!r}")
    with desk.uow(read_only=True) as uow:
        return uow.faq.list(status, language, queue_slug, source_conversation_id, limit, offset)


@dataclass
class PublishedFaq:
    """What a public FAQ page shows: the newest entries (at most a page), every topic with its count, the total."""

    articles: list[FaqArticle]
    topics: dict[str, int]
    total: int


def newest(
    desk: Desk, language: str | None = None, queue: str | None = None, topic: str | None = None, limit: int = 50
) -> list[FaqArticle]:
    """The newest published entries (a queue's FAQ holds its own and the whole library's), at most `limit`."""
    with desk.uow(read_only=True) as uow:
        return uow.faq.newest(language=language, queue_slug=queue or None, topic=topic or None, limit=limit)


def published_faq(
    desk: Desk, language: str | None = None, queue: str | None = None, topic: str | None = None, limit: int = 50
) -> PublishedFaq:
    """A public FAQ page's content in one read: the database counts the topics and the total and hands over
    only a page of entries, so the page costs the same with 10,000 published entries as with 50. `limit` 0: the
    topics and the total alone (a search page lists its hits instead)."""
    scope = {"language": language, "queue_slug": queue or None}
    with desk.uow(read_only=True) as uow:
        articles = uow.faq.newest(**scope, topic=topic or None, limit=limit) if limit > 0 else []
        total, topics = uow.faq.published_topics(**scope)
    return PublishedFaq(articles=articles, topics=topics, total=total)


def _change(desk: Desk, article_id: int, change: Callable[[UnitOfWork, FaqArticle], None]) -> FaqArticle:
    with desk.uow() as uow:
        article = uow.faq.get(article_id)
        if article is None:
            raise errors.InvalidInput(f"there is no FAQ entry #{article_id}")
        change(uow, article)
        article.updated_at = desk.clock.now()
        uow.faq.save(article)
        uow.commit()
    return article


def publish(desk: Desk, article_id: int) -> FaqArticle:
    """Make an entry public; its link to the chat it came from is dropped (privacy), never restored."""

    def published(uow: UnitOfWork, article: FaqArticle) -> None:
        if not article.question.strip() or not plain_text(article.answer):
            raise errors.InvalidInput("write the question and the answer before publishing")
        if article.status != "published":
            article.status, article.published_at = "published", desk.clock.now()
        article.source_conversation_id = None

    return _change(desk, article_id, published)


def unpublish(desk: Desk, article_id: int) -> FaqArticle:
    """Back to draft: patrons no longer find it; it does not regain a link to any chat."""

    def drafted(uow: UnitOfWork, article: FaqArticle) -> None:
        article.status, article.published_at = "draft", None

    return _change(desk, article_id, drafted)


def delete(desk: Desk, article_id: int) -> None:
    with desk.uow() as uow:
        for variant_ in uow.faq.list(limit=100_000):
            if variant_.translation_of == article_id:
                variant_.translation_of = None
                uow.faq.save(variant_)
        if not uow.faq.delete(article_id):
            raise errors.InvalidInput(f"there is no FAQ entry #{article_id}")
        uow.commit()


def merge(desk: Desk, keep_id: int, drop_id: int) -> FaqArticle:
    """Fold a duplicate into another: `keep` gains its topics (and translations), `drop` goes.

    The dropped id is remembered as merged into the kept one, so its public address can redirect."""
    if keep_id == drop_id:
        raise errors.InvalidInput("choose two different entries to merge")
    with desk.uow() as uow:
        keep, drop = uow.faq.get(keep_id), uow.faq.get(drop_id)
        if keep is None or drop is None:
            raise errors.InvalidInput(f"there is no FAQ entry #{keep_id if keep is None else drop_id}")
        keep.topics = keep.topics + [t for t in drop.topics if t not in keep.topics]
        if keep.translation_of == drop_id:
            keep.translation_of = drop.translation_of
        for other in uow.faq.list(limit=100_000):
            if other.translation_of == drop_id and other.id != keep_id:
                other.translation_of = keep.translation_of or keep_id
                uow.faq.save(other)
        keep.updated_at = desk.clock.now()
        uow.faq.save(keep)
        uow.faq.delete(drop_id)
        uow.kv.set(f"{MERGED}{drop_id}", str(keep_id))
        for key, value in uow.kv.with_prefix(MERGED).items():  # earlier merges into `drop` now lead to `keep`
            if value == str(drop_id):
                uow.kv.set(key, str(keep_id))
        uow.commit()
    return keep


def variant(desk: Desk, article: FaqArticle, language: str | None) -> FaqArticle:
    """The published translation of `article` in `language` (its first two letters), or `article` itself."""
    wanted = (language or "").strip().lower()[:2]
    if not wanted or wanted == article.language:
        return article
    original = article.translation_of or article.id
    with desk.uow(read_only=True) as uow:
        candidates = uow.faq.list(status="published", language=wanted, limit=100_000)
        root = uow.faq.get(original) if original is not None else None
    if root is not None and root.status == "published" and root.language == wanted:
        return root
    for candidate in candidates:
        if candidate.translation_of == original and candidate.id != article.id:
            return candidate
    return article


# --- drafts from chats -------------------------------------------------------------------------


def draft_from_conversation(desk: Desk, conversation_id: str) -> FaqArticle:
    """The chat's draft entry: made on first marking, refreshed while nobody has edited it, never duplicated.

    The question is the patron's first answered question, the answer the staff reply to it, scrubbed
    of personal data as the export is; queue, language and tags come from the chat."""
    now = desk.clock.now()
    card = compile_card_pattern(desk.card_pattern)
    with desk.uow() as uow:
        conversation = uow.conversations.get(conversation_id)
        if conversation is None:
            raise errors.ConversationNotFound("no such conversation")
        messages = uow.messages.after(conversation.id, 0, limit=100_000)
        found = pairs(messages)
        names = [conversation.name]
        question, answer = found[0] if found else (_first_question(messages), "")
        question = scrub(question, names, card)
        answer = text_to_html(scrub(answer, names, card))
        language = (conversation.language or "en").strip().lower()[:2]
        existing = uow.faq.list(source_conversation_id=conversation.id, limit=1)
        if existing:
            draft = existing[0]
            if draft.updated_at != draft.created_at:  # an editor changed it: theirs wins
                return draft
            draft.question, draft.answer = question[:MAX_QUESTION] or draft.question, answer
            draft.topics = list(conversation.tags)
            uow.faq.save(draft)
        else:
            draft = FaqArticle(
                id=None,
                question=question[:MAX_QUESTION] or "(no question yet)",
                answer=answer,
                language=language if LANGUAGE.fullmatch(language) else "en",
                queue_slug=conversation.queue_slug,
                topics=list(conversation.tags),
                status="draft",
                source_conversation_id=conversation.id,
                created_at=now,
                updated_at=now,
            )
            uow.faq.add(draft)
        _remember(uow, draft)
        uow.kv.set(f"{DRAFTED}{conversation.id}", "1")  # the chat was drafted once (see `mark`); no entry id kept
        uow.commit()
    return draft


def mark(desk: Desk, conversation_id: str, flag: bool = True) -> FaqArticle | None:
    """`!faq` (or the Slack dialog's FAQ box): mark the chat and make or refresh its draft; unmark with `flag` False.

    A chat makes one draft, ever, while it stays marked: once that draft is published (and so no longer
    names the chat) or deleted, marking again changes nothing, so no duplicate appears. Unmarking
    removes the draft if nobody edited it, and lets a later mark draft afresh."""
    tagging.set_faq_candidate(desk, conversation_id, flag)
    if not flag:
        drop_untouched_draft(desk, conversation_id)
        with desk.uow() as uow:
            uow.kv.delete(f"{DRAFTED}{conversation_id}")
            uow.commit()
        return None
    with desk.uow(read_only=True) as uow:
        linked = uow.faq.list(source_conversation_id=conversation_id, limit=1)
        drafted_before = uow.kv.get(f"{DRAFTED}{conversation_id}") is not None
    if drafted_before and not linked:
        return None
    return draft_from_conversation(desk, conversation_id)


def mark_text(desk: Desk, conversation_id: str, flag: bool, prefix: str = "!") -> str:
    """What staff read after `!faq` / `!faq off`: the chat's record and what became of its draft."""
    draft = mark(desk, conversation_id, flag)
    with desk.uow(read_only=True) as uow:
        conversation = uow.conversations.get(conversation_id)
    summary = tagging.summary(conversation) if conversation else ""
    if not flag:
        return summary
    if draft is None:
        return (
            f"{summary} Its FAQ draft was already published or deleted; "
            f"{prefix}faq off then {prefix}faq makes a new one."
        )
    return f"{summary} FAQ draft #{draft.id}: an editor reviews and publishes it (admin, FAQ page)."


def _first_question(messages: list[Message]) -> str:
    asked = [m.body.strip() for m in messages if m.author is Author.PATRON and m.deleted_at is None and m.body.strip()]
    return "\n".join(asked)


def forget_chat(uow: UnitOfWork, conversation_id: str) -> None:
    """A deleted chat (retention) leaves no FAQ bookkeeping: its drafted mark and staff's search lists go.
    (Storage unlinks its draft in the same delete.)"""
    uow.kv.delete(f"{DRAFTED}{conversation_id}")
    for key in uow.kv.with_prefix(f"{FOUND}{conversation_id}:"):
        uow.kv.delete(key)


def drop_untouched_draft(desk: Desk, conversation_id: str) -> bool:
    """`!faq off`: the chat's draft goes if nobody edited it yet (an edited one stays, unlinked from nothing)."""
    with desk.uow() as uow:
        for draft in uow.faq.list(status="draft", source_conversation_id=conversation_id, limit=10):
            if draft.updated_at == draft.created_at and draft.id is not None:
                uow.faq.delete(draft.id)
                uow.commit()
                return True
    return False


# --- search --------------------------------------------------------------------------------------


def search(
    desk: Desk,
    words: str,
    language: str | None = None,
    queue: str | None = None,
    limit: int = 10,
    published_only: bool = True,
    topic: str | None = None,
) -> list[FaqHit]:
    """The entries that best match what was typed, best first.

    The last word may be unfinished (it matches as a prefix). When every word together finds nothing,
    misspelt words are widened to the closest indexed words (edit distance 1, or 2 for words of
    five letters or more), and if that still finds nothing, any one word matching is enough."""
    typed = tokens(words)[:MAX_QUERY_WORDS]
    if not typed or limit < 1:
        return []
    limit = min(limit, 50)
    language = (language or "").strip().lower()[:2] or None
    options = {
        "language": language,
        "queue_slug": queue or None,
        "topic": topic or None,
        "limit": limit,
        "published_only": published_only,
    }
    strict = [[word] for word in typed]
    strict[-1] = [typed[-1] + "*"]
    with desk.uow(read_only=True) as uow:
        found = uow.faq.search(strict, **options)
        if not found:
            candidates = uow.faq.words_near([word.rstrip("*") for word in typed if len(word) >= 3])
            widened = [group + _near(group[0], candidates) for group in strict]
            if widened != strict:
                found = uow.faq.search(widened, **options)
            if not found and len(widened) > 1:
                found = uow.faq.search(widened, any_group=True, **options)
    return [FaqHit(article, rank) for article, rank in found]


def _near(word: str, candidates: list[str]) -> list[str]:
    """The `candidates` `word` may be a misspelling of; none when the index knows it (or, for the unfinished
    last word, words starting with it), since then it is not misspelt and widening it only adds noise."""
    bare = word.rstrip("*")
    if len(bare) < 3:
        return []
    if bare in candidates or (word.endswith("*") and any(c.startswith(bare) for c in candidates)):
        return []
    allowed = 1 if len(bare) < 5 else 2
    scored = [(distance(bare, c, allowed), c) for c in candidates if abs(len(c) - len(bare)) <= allowed]
    return [c for d, c in sorted(scored) if d <= allowed][:5]


def distance(a: str, b: str, cap: int = 2) -> int:
    """Levenshtein distance, giving up (returning cap + 1) as soon as it must exceed `cap`."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > cap:
            return cap + 1
        previous = current
    return previous[-1]


# --- reuse from the staff thread ---------------------------------------------------------------

SHOWN_HITS = 5
FORMATTED = re.compile(r"<(?!/?(?:p|br)\b)", re.IGNORECASE)  # any tag but paragraphs and line breaks


def search_text(desk: Desk, conversation_id: str | None, staff_id: str, words: str, prefix: str = "!") -> str:
    """`!faq search WORDS` in a chat's thread: the best published answers, numbered for `!faq send N`.

    The numbers are kept per chat and librarian, so two colleagues searching the same thread do not
    change each other's list. The list goes to staff only (a command's answer is never relayed).
    Without a chat (Slack's `/refdesk faq` outside one) the list is only shown."""
    if not tokens(words):
        raise errors.InvalidInput(f"write {prefix}faq search WORDS")
    queue = language = None
    if conversation_id is not None:
        with desk.uow(read_only=True) as uow:
            conversation = uow.conversations.get(conversation_id)
        if conversation is None:
            raise errors.ConversationNotFound("no such conversation")
        queue, language = conversation.queue_slug, (conversation.language or "en")[:2].lower()
    hits = _one_per_group(search(desk, words, queue=queue, limit=SHOWN_HITS * 3), language)[:SHOWN_HITS]
    if conversation_id is not None:
        with desk.uow() as uow:
            uow.kv.set(f"{FOUND}{conversation_id}:{staff_id}", ",".join(str(h.article.id) for h in hits))
            uow.commit()
    shown = " ".join(words.split())[:80]
    if not hits:
        return f"No published FAQ answer matches \u201c{shown}\u201d."
    hint = f" ({prefix}faq send N sends one as your reply)" if conversation_id is not None else ""
    lines = [f"FAQ answers for \u201c{shown}\u201d{hint}:"]
    for number, hit in enumerate(hits, 1):
        answer = " ".join(plain_text(hit.article.answer).split())
        more = "\u2026" if len(answer) > 100 else ""
        lines.append(f"{number}. {hit.article.question[:120]} [{hit.article.language}] \u2014 {answer[:100]}{more}")
    return "\n".join(lines)


def _one_per_group(hits: list[FaqHit], language: str | None) -> list[FaqHit]:
    """An entry and its translations are one answer: list it once, in `language` when that variant matched."""
    best: dict[int | None, FaqHit] = {}
    for hit in hits:
        group = hit.article.translation_of or hit.article.id
        if group not in best or (hit.article.language == language and best[group].article.language != language):
            best[group] = hit
    return list(best.values())  # dicts keep the order groups first appeared in: best rank first


def send(
    desk: Desk,
    conversation_id: str,
    staff_id: str,
    staff_name: str,
    number: str,
    inbound: Inbound | None = None,
    prefix: str = "!",
) -> Message | None:
    """`!faq send N`: answer N of this librarian's last search here, as their reply, in the patron's language."""
    with desk.uow(read_only=True) as uow:
        listed = uow.kv.get(f"{FOUND}{conversation_id}:{staff_id}")
        conversation = uow.conversations.get(conversation_id)
    if conversation is None:
        raise errors.ConversationNotFound("no such conversation")
    if conversation.status is Status.CLOSED:
        raise errors.ConversationClosed("this chat has ended: nothing was sent")
    ids = [int(i) for i in (listed or "").split(",") if i]
    if not ids:
        raise errors.InvalidInput(f"search first: {prefix}faq search WORDS, then {prefix}faq send N")
    if not number.strip().isdigit() or not 1 <= int(number) <= len(ids):
        raise errors.InvalidInput(f"give a number from your last search, 1 to {len(ids)}")
    article = get(desk, ids[int(number) - 1])
    if article is None or article.status != "published":
        raise errors.InvalidInput(f"answer {number} is no longer published: search again")
    chosen = variant(desk, article, conversation.language)
    body = plain_text(chosen.answer)
    html_ = chosen.answer if FORMATTED.search(chosen.answer) else None
    return staff.staff_says(desk, conversation_id, staff_id, staff_name, body, inbound, html=html_)
