"""The three paths the relay benchmark times, each one message at a time: bare nio -> nio, patron POST ->
librarian, librarian reply -> patron SSE; and `batch`, which runs many closed-loop senders at once."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from adapters.matrix.render import in_thread
from bench.observers import WAIT_SECONDS, Arrival, Arrivals, PatronStream, SyncingClient, new_token
from bench.relay_report import Sample
from bench.shapes import Shape
from tests.e2e.librarian import roots

log = logging.getLogger("bench.relay")


def since(wall_start: float, arrival: Arrival | None) -> float | None:
    return None if arrival is None or arrival.origin_ts is None else arrival.origin_ts / 1000 - wall_start


def sample(
    token: str, wall: float, began: float, returned: float, seen: Arrival | None, stamped: Arrival | None
) -> Sample:
    """A message not seen within WAIT_SECONDS counts as that long (a lower bound) and as late."""
    if seen is None:
        return Sample(token, wall, WAIT_SECONDS, returned - began, since(wall, stamped), late=True)
    return Sample(token, wall, seen.seen - began, returned - began, since(wall, stamped))


def arrival(arrivals: Arrivals, token: str) -> Arrival | None:
    try:
        return arrivals.wait(token)
    except TimeoutError:
        log.warning("%s not seen within %.0f s", token, WAIT_SECONDS)
        return None


@dataclass
class Chat:
    """One patron's conversation on one desk: API credentials, the Matrix thread root, a live SSE stream."""

    shape: Shape
    id: str
    token: str
    page_url: str
    http: requests.Session
    root: str = ""
    stream: PatronStream | None = None

    def api(self, path: str) -> str:
        return f"{self.shape.base_url}/api/v1{path}"


@dataclass
class Bench:
    bare_room: str
    alice: SyncingClient
    bob: SyncingClient
    librarian: SyncingClient
    patron_arrivals: Arrivals = field(default_factory=Arrivals)

    # 1. bare client -> client
    def bare_message(self, number: int) -> Sample:
        token = new_token()
        wall, began = time.time(), time.perf_counter()
        self.alice.send(self.bare_room, {"msgtype": "m.text", "body": f"bare {number} {token}"})
        returned = time.perf_counter()
        seen = arrival(self.bob.arrivals, token)
        return sample(token, wall, began, returned, seen, seen)

    # 2. patron POST -> librarian
    def patron_message(self, chat: Chat, number: int) -> Sample:
        token = new_token()
        wall, began = time.time(), time.perf_counter()
        response = chat.http.post(
            chat.api(f"/conversations/{chat.id}/messages"),
            json={"body": f"question {number} {token}", "client_id": token},
            headers={"Authorization": f"Bearer {chat.token}"},
            timeout=WAIT_SECONDS,
        )
        returned = time.perf_counter()
        if response.status_code != 201:
            raise RuntimeError(f"POST message answered {response.status_code}: {response.text}")
        seen = arrival(self.librarian.arrivals, token)
        return sample(token, wall, began, returned, seen, seen)

    # 3. librarian reply -> patron SSE
    def staff_reply(self, chat: Chat, number: int) -> Sample:
        token = new_token()
        wall, began = time.time(), time.perf_counter()
        content = in_thread({"msgtype": "m.text", "body": f"answer {number} {token}"}, chat.root)
        self.librarian.send(chat.shape.staff_room, content)
        returned = time.perf_counter()
        seen = arrival(self.patron_arrivals, token)
        stamped = arrival(self.librarian.arrivals, token)  # the librarian's own sync carries origin_server_ts
        return sample(token, wall, began, returned, seen, stamped)

    def open_chat(self, shape: Shape, label: str) -> Chat:
        """Start a conversation and warm it up: thread root posted, first reply (the claim) relayed."""
        page_url = f"https://bench.example/{shape.name}-{label}-{uuid.uuid4().hex[:8]}"
        http = requests.Session()
        response = http.post(
            f"{shape.base_url}/api/v1/conversations", json={"queue": "general", "page_url": page_url}, timeout=10
        )
        if response.status_code != 201:
            raise RuntimeError(f"{shape.name}: POST conversation answered {response.status_code}: {response.text}")
        created = response.json()
        chat = Chat(shape, created["id"], created["token"], page_url, http)
        events = chat.api(f"/conversations/{chat.id}/events?token={chat.token}")
        chat.stream = PatronStream(events, self.patron_arrivals)
        if self.patron_message(chat, -1).late:
            raise RuntimeError(f"{shape.name}: the first patron message did not reach the librarian")
        found = self.librarian.wait_for(lambda events: [e for e in roots(events) if page_url in e["content"]["body"]])
        chat.root = found[0]["event_id"]
        if self.staff_reply(chat, -1).late:  # the first reply claims the chat; later replies are plain relays
            raise RuntimeError(f"{shape.name}: the first reply did not reach the patron's stream")
        return chat

    def lanes(self, shape: str, path: str, chats: list[Chat]) -> list[Callable[[int], Sample]]:
        if path == "bare":
            return [self.bare_message for _ in chats]
        if path == "patron":
            return [lambda number, chat=chat: self.patron_message(chat, number) for chat in chats]
        return [lambda number, chat=chat: self.staff_reply(chat, number) for chat in chats]


def batch(lanes: list[Callable[[int], Sample]], per_lane: int) -> tuple[list[Sample], float]:
    """Every lane in its own thread, each sending `per_lane` messages one after another; returns samples, wall."""
    start = threading.Barrier(len(lanes) + 1)

    def run(lane: Callable[[int], Sample]) -> list[Sample]:
        start.wait()
        return [lane(number) for number in range(per_lane)]

    with ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="lane") as pool:
        futures = [pool.submit(run, lane) for lane in lanes]
        start.wait()
        began = time.perf_counter()
        samples = [sample for future in futures for sample in future.result()]
        return samples, time.perf_counter() - began
