"""TEMPORARY STUB of faqcore's contract (deleted when the faqcore branch is merged): in memory, per desk."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from router.journal import Desk


@dataclass
class FaqArticle:
    id: int | None
    question: str
    answer: str
    language: str = "en"
    queue_slug: str | None = None
    topics: list[str] = field(default_factory=list)
    status: str = "draft"
    source_conversation_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    published_at: datetime | None = None


@dataclass
class FaqHit:
    article: FaqArticle
    rank: float


_STORES: dict[int, dict[int, FaqArticle]] = {}


def _store(desk: Desk) -> dict[int, FaqArticle]:
    return _STORES.setdefault(id(desk.uow), {})


def save(desk: Desk, article: FaqArticle) -> FaqArticle:
    store = _store(desk)
    now = desk.clock.now()
    if article.id is None:
        article = replace(article, id=len(store) + 1, created_at=now)
    article = replace(article, updated_at=now)
    store[article.id] = article
    return article


def publish(desk: Desk, article_id: int) -> FaqArticle:
    store = _store(desk)
    store[article_id] = replace(
        store[article_id], status="published", published_at=desk.clock.now(), source_conversation_id=None
    )
    return store[article_id]


def get(desk: Desk, article_id: int) -> FaqArticle | None:
    return _store(desk).get(article_id)


def list_articles(desk: Desk, status: str | None = None, **_: object) -> list[FaqArticle]:
    return [a for a in _store(desk).values() if status is None or a.status == status]


def search(desk, words, language=None, queue=None, limit=10, published_only=True) -> list[FaqHit]:
    terms = [w.lower() for w in words.split()]
    hits = []
    for a in _store(desk).values():
        if published_only and a.status != "published":
            continue
        if language and a.language != language:
            continue
        if queue and a.queue_slug not in (None, queue):
            continue
        text = (a.question + " " + a.answer).lower()
        score = sum(1 for t in terms if t in text)
        if score:
            hits.append(FaqHit(a, float(score)))
    hits.sort(key=lambda h: -h.rank)
    return hits[:limit]
