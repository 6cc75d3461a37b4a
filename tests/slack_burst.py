"""Many chats at once in one Slack channel: the scenario of tests/integration/test_slack_pacing.py and bench.slack_rate.

Worker "processes" are `Worker`s with a container each (their own Slack client, pacer and database pool), as
separate `refdesk worker` processes would have; what they share is only what processes share: the database
and, with `rate_limit_storage=redis://…`, Redis. Chats and messages go in through the use cases, as the web
API would put them.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from adapters.bootstrap import Container, bootstrap
from adapters.notify import InProcessNotifier
from adapters.worker import Worker
from router.conversations import patron_says, start_conversation
from router.model import Backend, Queue
from tests.e2e.test_slack_loop import slack_settings
from tests.slack_emulator import SlackEmulator

CHANNEL = "C0BURST"
QUEUE = "burst"
# Unclaimed for a minute, each chat would get a nudge in its thread: 20 posts more than the scenario's
NO_ESCALATION = {"nudge_after": 3600, "rollover_after": 7200, "offer_email_after": 10800}


@dataclass
class Outcome:
    expected: int  # posts: every thread root and every message
    delivered: int  # expected posts found in the channel
    lost: int
    duplicated: int  # posts found more than once (extra copies)
    out_of_order: int  # threads whose messages are not in the order the patron sent them
    rate_limited: int  # 429s the emulator's limits gave
    lookups: int  # conversations.replies/history calls (each an "is it already there?" check)


def emulator(rate: float, burst: int) -> SlackEmulator:
    """A started emulator with the one channel; the caller stops it.

    Sped up (`rate` above Slack's 1/s), the workspace-wide limit would be the one that bites, so it scales too.
    """
    slack = SlackEmulator(post_rate_per_second=rate, post_burst=burst, workspace_posts_per_minute=max(rate, 5) * 60)
    slack.start()
    slack.add_channel(CHANNEL, "reference-desk")
    return slack


def desk(slack: SlackEmulator, database_url: str, notifier=None, migrate: bool = True, **settings: object) -> Container:
    """A container on `database_url` talking to the emulator, with the Slack queue in place."""
    configured = slack_settings(slack, database_url, **settings)
    container = bootstrap(configured, notifier=notifier, migrate=migrate)
    with container.desk.uow() as uow:
        if uow.queues.get(QUEUE) is None:
            uow.queues.add(Queue(QUEUE, "Ask a Librarian", Backend.SLACK, CHANNEL, escalation=NO_ESCALATION))
        uow.commit()
    return container


def start_workers(slack: SlackEmulator, database_url: str, count: int, **settings: object) -> list[Worker]:
    """`count` workers on one database, each with a container of its own; the first one migrates."""
    workers = []
    for number in range(count):
        container = desk(slack, database_url, InProcessNotifier(), migrate=number == 0, **settings)
        worker = Worker(container)
        worker.start()
        workers.append(worker)
    return workers


def stop_workers(workers: list[Worker]) -> None:
    for worker in workers:
        worker.stop()
        worker.container.close()


def chats_say(container: Container, threads: int, messages: int) -> dict[str, list[str]]:
    """Open `threads` chats and have them say `messages` messages in all, round robin; returns what each said."""
    said: dict[str, list[str]] = {}
    tokens = []
    for number in range(threads):
        conversation, token = start_conversation(container.desk, QUEUE, name=f"P{number}")
        said[conversation.id] = []
        tokens.append((conversation.id, token))
    for number in range(messages):
        conversation_id, token = tokens[number % threads]
        body = f"message {number // threads} of chat {number % threads}"
        patron_says(container.desk, conversation_id, token, body, f"c-{number}")
        said[conversation_id].append(body)
    return said


def all_delivered(container: Container) -> bool:
    with container.desk.uow(read_only=True) as uow:
        return uow.outbox.pending_count(lane="staff") == 0


def wait_delivered(container: Container, timeout: float) -> bool:
    """Poll the outbox until nothing is left for the staff side; False if `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not all_delivered(container):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def outcome(slack: SlackEmulator, said: dict[str, list[str]]) -> Outcome:
    """What reached the channel, judged by the metadata every post carries (our key and the conversation)."""
    posts = slack.messages(CHANNEL)
    keys = Counter(str(m["metadata"]["event_payload"]["key"]) for m in posts if m.get("metadata"))
    roots = {
        str(m["metadata"]["event_payload"]["conversation_id"]): m["ts"]
        for m in posts
        if m.get("metadata") and m.get("thread_ts") in (None, m["ts"])
    }
    delivered = out_of_order = 0
    for conversation_id, bodies in said.items():
        root = roots.get(conversation_id)
        if root is None:
            continue
        texts = [str(m.get("text", "")).split(": ", 1)[-1] for m in slack.thread(CHANNEL, root)]
        sent = [text for text in texts if text in bodies]
        delivered += 1 + len(set(sent))
        if list(dict.fromkeys(sent)) != [body for body in bodies if body in sent]:
            out_of_order += 1
    expected = len(said) + sum(len(bodies) for bodies in said.values())
    calls = [method for method, _ in slack.calls]
    return Outcome(
        expected=expected,
        delivered=delivered,
        lost=expected - delivered,
        duplicated=sum(count - 1 for count in keys.values()),
        out_of_order=out_of_order,
        rate_limited=len(slack.rate_limited),
        lookups=calls.count("conversations.replies") + calls.count("conversations.history"),
    )
