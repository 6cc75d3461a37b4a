"""The worker process: the outbox pump (adapters/outbox_pump.py) plus the Matrix sync loop.

Stateless between restarts: leases expire, sync tokens and outbox rows live in
the database, so a killed worker resumes where it stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from adapters.bootstrap import Container, connect_matrix, connect_slack
from adapters.outbox_leases import LeaseTracker
from adapters.outbox_pump import OutboxPump
from router.escalation import escalate_due
from router.pruning import prune_delivery_logs
from router.retention import purge

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_SECONDS = 4.0  # in-flight sends may finish; honcho kills after 5 s, orchestrators later


class Worker:
    def __init__(self, container: Container):
        self.container = container
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.matrix = None
        self.socket_mode = None
        self.leases = LeaseTracker()
        self.pump = OutboxPump(container, self.leases, self.stopping)

    def start(self) -> None:
        self.matrix = connect_matrix(self.container)
        if self.matrix is not None:
            self.matrix.run_sync()
        self.socket_mode = connect_slack(self.container)
        sweeper = threading.Thread(target=self._escalate_forever, name="escalation", daemon=True)
        sweeper.start()
        self._threads.append(sweeper)
        purger = threading.Thread(target=self._purge_forever, name="retention", daemon=True)
        purger.start()
        self._threads.append(purger)
        pump = threading.Thread(target=self.pump.run, name="outbox-pump", daemon=True)
        pump.start()
        self._threads.append(pump)
        log.info(
            "worker started: outbox pump (%d send threads besides Matrix's loop), matrix=%s, slack=%s",
            self.container.settings.outbox_workers,
            self.matrix is not None,
            "socket mode" if self.socket_mode else bool(self.container.slack),
        )

    def _escalate_forever(self) -> None:
        """Escalation timers live in the database; this only looks at them every couple of seconds."""
        while not self.stopping.wait(self.container.settings.escalation_poll_seconds):
            try:
                escalate_due(self.container.desk)
            except Exception:  # noqa: BLE001 - e.g. database restarting; look again shortly
                log.exception("escalation sweep error")

    def _purge_forever(self) -> None:
        """The retention policy and delivery-log pruning, at start and then every REFDESK_PURGE_INTERVAL_MINUTES."""
        settings = self.container.settings
        while not self.stopping.is_set():
            try:
                purge(self.container.desk, self.container.channels, settings.card_number_pattern)
            except Exception:  # noqa: BLE001 - e.g. database restarting; the next run catches up
                log.exception("retention purge error")
            try:
                prune_delivery_logs(self.container.desk, timedelta(days=settings.keep_delivered_days))
            except Exception:  # noqa: BLE001 - as above
                log.exception("delivery log pruning error")
            if self.stopping.wait(settings.purge_interval_minutes * 60):
                return

    def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Let in-flight deliveries finish within `grace` seconds; hand back the leases of those that do not."""
        deadline = time.monotonic() + grace
        self.pump.stop_by = deadline  # in-flight sends may finish and be marked until then; nothing new is leased
        self.stopping.set()
        self.pump.wake()
        for thread in self._threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0))
        released = self.leases.release(self.container.engine, self.container.desk.clock.now())
        if released:
            log.warning("stopping: %d delivery(ies) still in flight handed back to other workers", released)
        if self.matrix is not None:
            self.matrix.stop()
        if self.socket_mode is not None:
            self.socket_mode.close()
