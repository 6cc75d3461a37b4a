"""Forget what only delivery needed: settled outbox items and the inbound dedupe log, after a window.

Run by the worker's retention sweep (`adapters/worker.py`), in small batches so no transaction
holds the tables for long. Leasing does not depend on this (partial indexes cover undelivered
rows only, migration 0014); pruning keeps the tables from growing for ever.

Why the window (REFDESK_KEEP_DELIVERED_DAYS, at least 1 day, 7 by default) reopens no replay:
- Slack retries an event at most three times within about five minutes, refuses a signature
  older than 300 s, and a trigger_id expires after 3 s: an event or click older than that
  cannot come back as a valid request.
- A Matrix sync replays at most the batch after the last saved token. The token is saved as soon
  as a batch is handled, so a replay only happens when a worker restarts after dying mid-batch,
  and it repeats that one batch: minutes old, unless the worker stayed down the whole window.
- An outbox item counts as settled once delivered or cancelled; nothing leases it again.

What is kept whatever its age (see `Outbox.prune_settled`): items that record a platform copy or
an earlier thread, which retention (router.retention) reads to remove the chat's copies from Slack
and Matrix, and transcript requests, which allow one transcript per chat (router.patron_email).
They go when retention deletes their chat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from router.journal import Desk

log = logging.getLogger(__name__)

BATCH = 5_000


@dataclass
class Pruned:
    outbox: int = 0
    inbound: int = 0


def prune_delivery_logs(desk: Desk, keep: timedelta, batch: int = BATCH) -> Pruned:
    """Delete settled outbox items and inbound events older than `keep`, a batch per transaction."""
    before, pruned = desk.clock.now() - keep, Pruned()
    while True:
        with desk.uow() as uow:
            outbox = uow.outbox.prune_settled(before, batch)
            inbound = uow.inbound.prune(before, batch)
            uow.commit()
        pruned.outbox, pruned.inbound = pruned.outbox + outbox, pruned.inbound + inbound
        if outbox < batch and inbound < batch:
            break
    if pruned.outbox or pruned.inbound:
        log.info("pruned %d settled outbox items and %d inbound events", pruned.outbox, pruned.inbound)
    return pruned
