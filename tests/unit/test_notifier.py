"""The in-process notifier: a publish wakes its topic's subscribers and nobody else, at the cost of a
dictionary lookup, and what thousands of open streams hold here stays small."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from adapters.notify import EVERYTHING, InProcessNotifier

ROOT = Path(__file__).resolve().parents[2]


def test_a_publish_wakes_its_topics_subscribers_only():
    notifier = InProcessNotifier()
    alone, first, second = notifier.subscribe("a"), notifier.subscribe("b"), notifier.subscribe("b", "c")
    notifier.publish("b")
    assert (alone.woken_by(), first.woken_by(), second.woken_by()) == (set(), {"b"}, {"b"})
    first.close()
    notifier.publish("b")
    assert (first.woken_by(), second.woken_by()) == (set(), {"b"})
    notifier.publish_all()
    assert (alone.woken_by(), second.woken_by()) == ({EVERYTHING}, {EVERYTHING})
    alone.close()
    second.close()
    assert notifier._subscriptions == {}  # nothing left behind by streams that ended


def test_a_topics_one_subscriber_is_held_without_a_set_of_its_own():
    """One patron's chat, one open stream: 10,000 one-element sets would cost about 2 MB."""
    notifier = InProcessNotifier()
    subscription = notifier.subscribe("chat")
    assert notifier._subscriptions["chat"] is subscription
    subscription.follow("chat")  # following a topic twice changes nothing
    assert notifier._subscriptions["chat"] is subscription


PARKED = """
import gevent.monkey
gevent.monkey.patch_all()
import gc, sys, tracemalloc
import gevent
from adapters.notify import InProcessNotifier

notifier = InProcessNotifier()
N = 2000

def stream(number):  # as a patron stream waits: a generator iterated by the server's greenlet
    subscription = notifier.subscribe(f"chat-{number}")
    try:
        yield b"retry: 3000"
        while not subscription.wait(300):
            yield b": keep-alive"
        yield b"woken"
    finally:
        subscription.close()

def serve(number):
    for chunk in stream(number):
        pass

def deep(level):  # other greenlets running deep stacks make each parked one save all of its own
    return deep(level - 1) if level else gevent.sleep(0)

gevent.spawn(deep, 0).join()
tracemalloc.start()
before = tracemalloc.take_snapshot()
greenlets = [gevent.spawn(serve, number) for number in range(N)]
gevent.sleep(0.1)
gevent.joinall([gevent.spawn(deep, 200) for _ in range(10)])
after = tracemalloc.take_snapshot()
held = sum(d.size_diff for d in after.compare_to(before, "filename")) / N
for number in range(N):
    notifier.publish(f"chat-{number}")
gevent.joinall(greenlets, timeout=30)
assert all(g.dead for g in greenlets), "a parked stream was not woken"
assert notifier._subscriptions == {}, "subscriptions left behind"
print(round(held))
"""


def test_a_parked_stream_under_gevent_holds_little_and_every_one_wakes():
    """Under gevent a waiting stream parks on the hub itself: gevent's own Event parks through a chain of
    Cython calls (a deeper saved C stack) and arms a Timeout object per wait (about 1 KB more each)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PARKED)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    held = int(done.stdout.split()[-1])
    assert held < 5000, f"{held} bytes per parked stream"  # 5,800 with gevent.event.Event, 4,250 parked on the hub
