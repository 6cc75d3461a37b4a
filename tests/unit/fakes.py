"""Hand-written fakes of our own ports, for use-case tests without I/O."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from router.errors import DeliveryError
from router.journal import Desk
from router.model import Conversation, Message, OutboxItem, OutboxKind, Queue, StreamEvent
from router.ports import Leased, StreamRead, UnitOfWork


class FakeClock:
    def __init__(self, start: datetime | None = None):
        self.current = start or datetime(2026, 11, 2, 14, 5, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class Store:
    """The 'database' shared by every FakeUnitOfWork; a commit copies the working state in."""

    def __init__(self) -> None:
        self.queues: dict[str, Queue] = {}
        self.conversations: dict[str, Conversation] = {}
        self.messages: dict[str, Message] = {}
        self.files: dict = {}
        self.duty: dict = {}
        self.events: list[StreamEvent] = []
        self.outbox: list[OutboxItem] = []
        self.inbound: dict[tuple[str, str], datetime] = {}  # (source, event id) -> first seen
        self.kv: dict[str, str] = {}
        self.canned: dict = {}
        self.admins: dict = {}
        self.attempts: list = []
        self.faq: dict = {}  # id -> FaqArticle
        self.faq_words: set[str] = set()


class _Repo:
    def __init__(self, state: Store):
        self.state = state


class FakeQueues(_Repo):
    def get(self, slug):
        return self.state.queues.get(slug)

    def add(self, queue):
        self.state.queues[queue.slug] = queue

    def list(self):
        return sorted(self.state.queues.values(), key=lambda q: q.slug)

    def for_room(self, backend, room):
        return [q for q in self.list() if q.backend is backend and q.room == room]


def _seen(conversation, since):
    """Whether the patron was seen at or after `since` (None: always)."""
    if since is None or conversation.patron_channel:  # their own chat app keeps a DM patron reachable
        return True
    return (conversation.last_seen_at or conversation.created_at) >= since


class FakeConversations(_Repo):
    def add(self, conversation):
        self.state.conversations[conversation.id] = replace(conversation)

    def get(self, conversation_id, *, for_update=False):
        found = self.state.conversations.get(conversation_id)
        return replace(found) if found else None

    def save(self, conversation):
        self.state.conversations[conversation.id] = replace(conversation)

    def where(self, conversation_id):
        found = self.state.conversations.get(conversation_id)
        return (found.status, found.queue_slug) if found else None

    def waiting_count(self, queue_slug, seen_since=None):
        return sum(
            1
            for c in self.state.conversations.values()
            if c.queue_slug == queue_slug and c.status.value == "waiting" and not c.offline and _seen(c, seen_since)
        )

    def waiting_ahead(self, queue_slug, created_at, seen_since=None):
        return sum(
            1
            for c in self.state.conversations.values()
            if c.queue_slug == queue_slug
            and c.status.value == "waiting"
            and not c.offline
            and c.created_at < created_at
            and _seen(c, seen_since)
        )

    def mark_seen(self, conversation_id, moment):
        found = self.state.conversations.get(conversation_id)
        if found is not None and found.status.value == "waiting":
            found.last_seen_at = moment

    def mark_seen_all(self, conversation_ids, moment):
        for conversation_id in conversation_ids:
            self.mark_seen(conversation_id, moment)

    def waiting_line(self, queue_slug, seen_since=None):
        waiting = [
            c
            for c in self.state.conversations.values()
            if c.queue_slug == queue_slug and c.status.value == "waiting" and not c.offline and _seen(c, seen_since)
        ]
        return [(c.id, c.created_at) for c in sorted(waiting, key=lambda c: (c.created_at, c.id))]

    def gone_since(self, moment):
        return [
            replace(c)
            for c in self.state.conversations.values()
            if c.status.value == "waiting" and not c.offline and not _seen(c, moment)
        ]

    def open_for_patron(self, channel, address, *, for_update=False):
        found = [
            c
            for c in self.state.conversations.values()
            if (c.patron_channel, c.patron_address) == (channel, address) and c.status.value != "closed"
        ]
        return replace(max(found, key=lambda c: c.created_at)) if found else None

    def recent_waits(self, queue_slug, limit=20):
        claimed = [c for c in self.state.conversations.values() if c.queue_slug == queue_slug and c.claimed_at]
        claimed.sort(key=lambda c: c.claimed_at, reverse=True)
        return [(c.claimed_at - c.created_at).total_seconds() for c in claimed[:limit]]

    def waiting_before(self, moment, below_stage):
        return [
            replace(c)
            for c in self.state.conversations.values()
            if c.status.value == "waiting"
            and not c.offline
            and c.created_at < moment
            and c.escalation_stage < below_stage
        ]

    def active_in(self, queue_slugs):
        return [
            replace(c)
            for c in self.state.conversations.values()
            if c.queue_slug in queue_slugs and c.status.value != "closed"
        ]

    def count_open(self, queue_slugs):
        counts: dict[str, int] = {}
        for conversation in self.state.conversations.values():
            if conversation.queue_slug in queue_slugs and conversation.status.value != "closed":
                counts[conversation.status.value] = counts.get(conversation.status.value, 0) + 1
        return counts

    def by_thread(self, queue_slug, thread_id, *, for_update=False):
        for conversation in self.state.conversations.values():
            if conversation.queue_slug == queue_slug and conversation.staff_thread_id == thread_id:
                return replace(conversation)
        return None

    def created_between(self, start, end, queue_slugs=None):
        found = [
            replace(c)
            for c in self.state.conversations.values()
            if start <= c.created_at < end and (queue_slugs is None or c.queue_slug in queue_slugs)
        ]
        return sorted(found, key=lambda c: c.created_at)

    def closed_before(self, moment, limit=500):
        found = [c for c in self.state.conversations.values() if c.status.value == "closed" and c.closed_at < moment]
        return [replace(c) for c in sorted(found, key=lambda c: c.closed_at)[:limit]]

    def faq_candidates(self, start=None, end=None, queue_slug=None):
        found = [
            replace(c)
            for c in self.state.conversations.values()
            if c.faq_candidate
            and (start is None or c.created_at >= start)
            and (end is None or c.created_at < end)
            and queue_slug in (None, c.queue_slug)
        ]
        return sorted(found, key=lambda c: c.created_at)

    def delete(self, conversation_id):
        state = self.state
        state.conversations.pop(conversation_id, None)
        state.messages = {k: m for k, m in state.messages.items() if m.conversation_id != conversation_id}
        state.files = {k: f for k, f in state.files.items() if f.conversation_id != conversation_id}
        state.events = [e for e in state.events if e.conversation_id != conversation_id]
        state.outbox = [i if i.conversation_id != conversation_id else None for i in state.outbox]
        for article in state.faq.values():
            if article.source_conversation_id == conversation_id:
                article.source_conversation_id = None


class FakeMessages(_Repo):
    def add(self, message):
        self.state.messages[message.id] = message

    def by_client_id(self, conversation_id, client_id):
        for message in self.state.messages.values():
            if message.conversation_id == conversation_id and message.client_id == client_id:
                return message
        return None

    def after(self, conversation_id, seq, limit=500):
        found = [m for m in self.state.messages.values() if m.conversation_id == conversation_id and m.seq > seq]
        return sorted(found, key=lambda m: m.seq)[:limit]

    def get(self, message_id):
        return self.state.messages.get(message_id)

    def by_staff_event(self, staff_event_id, conversation_id=None):
        for message in self.state.messages.values():
            if message.staff_event_id == staff_event_id and conversation_id in (None, message.conversation_id):
                return replace(message)
        return None

    def save(self, message):
        self.state.messages[message.id] = replace(message)

    def containing(self, text, conversation_ids):
        wanted = set(conversation_ids)
        return {
            m.conversation_id
            for m in self.state.messages.values()
            if m.conversation_id in wanted and m.deleted_at is None and text.lower() in m.body.lower()
        }


class FakeFiles(_Repo):
    def add(self, file):
        self.state.files[file.id] = file

    def get(self, conversation_id, file_id):
        found = self.state.files.get(file_id)
        return found if found and found.conversation_id == conversation_id else None


class FakeDuty(_Repo):
    def get(self, queue_slug, staff_id):
        found = self.state.duty.get((queue_slug, staff_id))
        return replace(found) if found else None

    def save(self, record):
        self.state.duty[(record.queue_slug, record.staff_id)] = replace(record)

    def on_duty(self, queue_slug):
        return [replace(r) for (slug, _), r in self.state.duty.items() if slug == queue_slug and r.on]

    def touch(self, queue_slug, staff_id, moment, *, unless_since):
        found = self.state.duty.get((queue_slug, staff_id))
        if found is not None and found.on and found.last_active < unless_since:
            self.state.duty[(queue_slug, staff_id)] = replace(found, last_active=moment)


class FakeEvents(_Repo):
    def add(self, event):
        self.state.events.append(event)

    def save(self, event):
        self.state.events = [
            event if (e.conversation_id, e.seq) == (event.conversation_id, event.seq) else e for e in self.state.events
        ]

    def after(self, conversation_id, seq, limit=500):
        found = [e for e in self.state.events if e.conversation_id == conversation_id and e.seq > seq]
        return sorted(found, key=lambda e: e.seq)[:limit]

    def stream(self, conversation_id, seq, also, limit=500, *, chat=False):
        found = self.state.conversations.get(conversation_id)
        if found is None:
            return None
        events = self.after(conversation_id, seq, limit)
        return StreamRead(
            found.status, found.queue_slug, self.state.kv.get(also), events, replace(found) if chat else None
        )


class FakeOutbox(_Repo):
    def _backend_of(self, conversation_id):
        conversation = self.state.conversations.get(conversation_id)
        queue = self.state.queues.get(conversation.queue_slug) if conversation else None
        return queue.backend if queue else None

    def _patron_channel_of(self, conversation_id):
        conversation = self.state.conversations.get(conversation_id)
        return conversation.patron_channel if conversation else None

    def add(self, item):
        item.id = len(self.state.outbox) + 1
        self.state.outbox.append(replace(item))

    def lease_due(self, now, lease_until, skip_backends=frozenset()):
        blocked: set[str] = set()
        for item in self.state.outbox:
            if item is None or item.delivered_at is not None:  # None: a deleted row (ids stay positions)
                continue
            if skip_backends and item.lane == "staff" and self._backend_of(item.conversation_id) in skip_backends:
                continue
            patron_side = item.lane == "patron" and self._patron_channel_of(item.conversation_id)
            if skip_backends and patron_side in skip_backends:
                continue
            free = item.lease_until is None or item.lease_until < now
            line = (item.conversation_id, item.lane)
            if line not in blocked and item.next_attempt_at <= now and free:
                item.lease_until = lease_until
                item.leases += 1
                return replace(item)
            blocked.add(line)
        return None

    def lease(self, now, lease_until, limit, skip_backends=frozenset()):
        taken = []
        while len(taken) < limit and (item := self.lease_due(now, lease_until, skip_backends)) is not None:
            conversation = self.state.conversations.get(item.conversation_id)
            queue = self.state.queues.get(conversation.queue_slug) if conversation else None
            message = self.state.messages.get(item.message_id) if item.message_id else None
            problem = self.state.kv.get(f"queue_problem:{queue.slug}") if queue else None
            taken.append(Leased(item, replace(conversation) if conversation else None, queue, message, problem))
        return taken

    def mark_delivered(self, refs, now):
        for item_id, ref in refs.items():
            item = self.state.outbox[item_id - 1]
            item.delivered_at, item.lease_until, item.last_error = now, None, None
            item.staff_ref = ref if ref is not None else item.staff_ref

    def save(self, item):
        self.state.outbox[item.id - 1] = replace(item)

    def pending_count(self, lane=None):
        return sum(1 for item in self.state.outbox if item and item.delivered_at is None and lane in (None, item.lane))

    def cancel_pending(self, conversation_id, lane, now, reason):
        pending = [
            item
            for item in self.state.outbox
            if item and item.conversation_id == conversation_id and item.lane == lane and item.delivered_at is None
        ]
        for item in pending:
            item.delivered_at, item.lease_until, item.last_error = now, None, reason
        return len(pending)

    def for_conversation(self, conversation_id):
        return [replace(i) for i in self.state.outbox if i and i.conversation_id == conversation_id]

    def prune_settled(self, before, limit):
        def needed(item):  # as SqlOutbox.prune_settled: what retention and transcripts read stays
            return item.staff_ref or item.payload.get("thread") or item.kind is OutboxKind.TRANSCRIPT_EMAIL

        settled = [
            n
            for n, i in enumerate(self.state.outbox)
            if i and i.delivered_at and i.delivered_at < before and not needed(i)
        ][:limit]
        for n in settled:
            self.state.outbox[n] = None  # ids stay positions
        return len(settled)


class FakeInbound(_Repo):
    def first_time(self, source, event_id, seen_at):
        if (source, event_id) in self.state.inbound:
            return False
        self.state.inbound[(source, event_id)] = seen_at
        return True

    def prune(self, before, limit):
        old = [key for key, seen_at in self.state.inbound.items() if seen_at < before][:limit]
        for key in old:
            del self.state.inbound[key]
        return len(old)


class FakeKeyValue(_Repo):
    def get(self, key):
        return self.state.kv.get(key)

    def set(self, key, value):
        self.state.kv[key] = value

    def delete(self, key):
        self.state.kv.pop(key, None)

    def with_prefix(self, prefix):
        return {k: v for k, v in self.state.kv.items() if k.startswith(prefix)}

    def lock(self, key):
        pass  # one process, one thread: nothing to wait for


class FakeCanned(_Repo):
    def get(self, name):
        return self.state.canned.get(name)

    def save(self, response):
        self.state.canned[response.name] = response

    def delete(self, name):
        return self.state.canned.pop(name, None) is not None

    def list(self):
        return [self.state.canned[name] for name in sorted(self.state.canned)]


class FakeAdmins(_Repo):
    def get(self, username):
        return self.state.admins.get(username)

    def save(self, user):
        self.state.admins[user.username] = user

    def delete(self, username):
        return self.state.admins.pop(username, None) is not None

    def list(self):
        return [self.state.admins[name] for name in sorted(self.state.admins)]


class FakeAttempts(_Repo):
    def add(self, attempt):
        attempt.id = len(self.state.attempts) + 1
        self.state.attempts.append(replace(attempt))

    def between(self, start, end, queue_slugs=None):
        return [
            a
            for a in self.state.attempts
            if start <= a.at < end and (queue_slugs is None or a.queue_slug in queue_slugs)
        ]


class FakeFaq(_Repo):
    """The knowledge base; `search` matches whole words (a trailing * a prefix) and ranks by words matched."""

    def add(self, article):
        article.id = max(self.state.faq, default=0) + 1
        self.state.faq[article.id] = replace(article, topics=list(article.topics))

    def get(self, article_id):
        found = self.state.faq.get(article_id)
        return replace(found, topics=list(found.topics)) if found else None

    def save(self, article):
        self.state.faq[article.id] = replace(article, topics=list(article.topics))

    def delete(self, article_id):
        return self.state.faq.pop(article_id, None) is not None

    def list(self, status=None, language=None, queue_slug=None, source_conversation_id=None, limit=500, offset=0):
        found = [
            a
            for a in self.state.faq.values()
            if (status is None or a.status == status)
            and (language is None or a.language == language)
            and (queue_slug is None or a.queue_slug == (queue_slug or None))
            and (source_conversation_id is None or a.source_conversation_id == source_conversation_id)
        ]
        found.sort(key=lambda a: (a.updated_at, a.id), reverse=True)
        return [self.get(a.id) for a in found[offset : offset + limit]]

    def _published(self, language, queue_slug):
        return [
            a
            for a in self.state.faq.values()
            if a.status == "published"
            and (language is None or a.language == language)
            and (queue_slug is None or a.queue_slug in (None, queue_slug))
        ]

    def newest(self, *, language=None, queue_slug=None, topic=None, limit=50):
        found = [a for a in self._published(language, queue_slug) if topic is None or topic in a.topics]
        found.sort(key=lambda a: (a.published_at, a.updated_at, a.id), reverse=True)
        return [self.get(a.id) for a in found[:limit]]

    def published_topics(self, *, language=None, queue_slug=None):
        found = self._published(language, queue_slug)
        return len(found), dict(Counter(t for a in found for t in set(a.topics)))

    def search(
        self, groups, *, any_group=False, language=None, queue_slug=None, topic=None, limit=10, published_only=True
    ):
        from router.faq_entries import plain_text, tokens

        def matches(word, text_words):
            return any(w.startswith(word[:-1]) if word.endswith("*") else w == word for w in text_words)

        hits = []
        for a in self.state.faq.values():
            if published_only and a.status != "published":
                continue
            if language is not None and a.language != language:
                continue
            if queue_slug is not None and a.queue_slug not in (None, queue_slug):
                continue
            if topic is not None and topic not in a.topics:
                continue
            question = tokens(a.question)
            text = set(question + tokens(plain_text(a.answer)) + a.topics)
            matched = [any(matches(w, text) for w in group) for group in groups]
            if any(matched) if any_group else all(matched):
                in_question = sum(any(matches(w, set(question)) for w in group) for group in groups)
                hits.append((self.get(a.id), float(sum(matched) + in_question)))
        hits.sort(key=lambda hit: (-hit[1], hit[0].id))
        return hits[:limit]

    def remember_words(self, words):
        self.state.faq_words |= set(words)

    def words_near(self, words):
        return sorted(
            w for w in self.state.faq_words if any(w[:1] == x[:1] and abs(len(w) - len(x)) <= 2 for x in words if x)
        )


class FakeUnitOfWork(UnitOfWork):
    """Works on a copy of the store; only `commit` makes changes visible (like a transaction)."""

    def __init__(self, store: Store, notifier=None):
        super().__init__(notifier)
        self.store = store
        self.committed = False

    def __enter__(self):
        self.working = copy.deepcopy(self.store)
        for name, repo in (
            ("queues", FakeQueues),
            ("conversations", FakeConversations),
            ("messages", FakeMessages),
            ("files", FakeFiles),
            ("duty", FakeDuty),
            ("events", FakeEvents),
            ("outbox", FakeOutbox),
            ("inbound", FakeInbound),
            ("kv", FakeKeyValue),
            ("canned", FakeCanned),
            ("admins", FakeAdmins),
            ("attempts", FakeAttempts),
            ("faq", FakeFaq),
        ):
            setattr(self, name, repo(self.working))
        return self

    def commit(self):
        self.store.__dict__.update(self.working.__dict__)
        self.working = copy.deepcopy(self.store)
        for repo in (
            self.queues,
            self.conversations,
            self.messages,
            self.files,
            self.duty,
            self.events,
            self.outbox,
            self.inbound,
            self.kv,
            self.canned,
            self.admins,
            self.attempts,
            self.faq,
        ):
            repo.state = self.working
        self.committed = True
        self._run_after_commit()

    def rollback(self):
        self._forget_after_commit()


class FakeNotifier:
    def __init__(self) -> None:
        self.published: list[str] = []

    def publish(self, topic: str) -> None:
        self.published.append(topic)

    def subscribe(self, topic: str):
        raise NotImplementedError("streams are tested against the real notifier")


class FakeStaffChannel:
    """Records calls; `fail_next` makes the next call raise the given DeliveryError."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.fail_next: list[DeliveryError] = []
        self.maybe_sent: list[bool] = []
        self.where: list[tuple[str, str | None]] = []
        self.mentions: list[list[str]] = []  # (queue, thread) of each notice and root update
        self.removed_from: list[tuple[str, str | None]] = []  # (queue, thread root) of each remove_copies
        self.removed: list[tuple[str, list[str]]] = []  # (conversation, refs) of each remove_copies
        self.anonymised: list[tuple[str, str | None, list]] = []  # (queue, thread root, copies) of anonymise_copies

    def _record(self, kind: str, conversation: Conversation, key: str, maybe_sent: bool) -> str:
        self.maybe_sent.append(maybe_sent)
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.calls.append((kind, conversation.id, key))
        return f"${kind}-{len(self.calls)}"

    def open_thread(self, queue, conversation, key, maybe_sent=False):
        return self._record("open_thread", conversation, key, maybe_sent)

    def post_patron_message(self, queue, conversation, message, key, maybe_sent=False, files=None):
        return self._record(f"message:{message.body}", conversation, key, maybe_sent)

    def update_root(self, queue, conversation, key, maybe_sent=False, note=None):
        self.where.append((queue.slug, conversation.staff_thread_id))
        self._record(f"update_root:{note or conversation.status}", conversation, key, maybe_sent)

    def thread_link(self, queue, thread_id):
        return f"link://{queue.slug}/{thread_id}"

    def post_notice(self, queue, conversation, text, key, maybe_sent=False, mentions=None, plain=False):
        self.mentions.append(list(mentions or []))
        self.where.append((queue.slug, conversation.staff_thread_id))
        return self._record(f"notice:{text}", conversation, key, maybe_sent)

    def remove_copies(self, queue, conversation, refs):
        self.removed_from.append((queue.slug, conversation.staff_thread_id))
        self.removed.append((conversation.id, list(refs)))
        self._record("remove_copies", conversation, ",".join(refs), False)

    def anonymise_copies(self, queue, conversation, copies):
        self.anonymised.append((queue.slug, conversation.staff_thread_id, list(copies)))
        self._record("anonymise_copies", conversation, ",".join(copy.ref for copy in copies), False)


def make_desk(*queues: Queue) -> tuple[Desk, Store, FakeClock, FakeNotifier]:
    store, clock, notifier = Store(), FakeClock(), FakeNotifier()
    for queue in queues:
        store.queues[queue.slug] = queue
    return (
        Desk(uow=lambda read_only=False: FakeUnitOfWork(store, notifier), clock=clock, notifier=notifier, max_body=100),
        store,
        clock,
        notifier,
    )
