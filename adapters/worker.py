"""The worker process: the outbox pump (adapters/outbox_pump.py) plus the Matrix sync loop.

Stateless between restarts: leases expire, sync tokens, outbox rows and the bot's encryption
state live in the database, so a killed worker resumes where it stopped. With several workers
exactly one holds the Matrix device (adapters.matrix.device_lock): it syncs and delivers the
Matrix queues' staff items; the others deliver everything else and take the device over within
seconds when the holder dies.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from adapters.bootstrap import Container, connect_matrix, connect_slack
from adapters.matrix.device_lock import TAKEOVER_SECONDS, DeviceLock
from adapters.outbox_leases import LeaseTracker
from adapters.outbox_pump import OutboxPump
from router.escalation import escalate_due
from router.model import Backend
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
        self.device_lock: DeviceLock | None = None
        self.socket_mode = None
        self.leases = LeaseTracker()
        self.pump = OutboxPump(container, self.leases, self.stopping, skipped=self._skipped_backends)

    def start(self) -> None:
        settings = self.container.settings
        if settings.matrix_homeserver:
            self.device_lock = DeviceLock(
                self.container.engine, settings.matrix_homeserver, settings.matrix_user_id or ""
            )
            if self.device_lock.try_acquire():
                self._connect_matrix()
            else:
                self._stand_by()
                log.info("matrix: another worker holds the Matrix device; this one takes over if it stops")
            holder = threading.Thread(target=self._hold_matrix_device, name="matrix-device", daemon=True)
            holder.start()
            self._threads.append(holder)
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

    def _connect_matrix(self) -> None:
        self.matrix = connect_matrix(self.container)
        self.matrix.run_sync()

    def _stand_by(self) -> None:
        from adapters.matrix.standby import StandbyChannel

        self.container.channels[Backend.MATRIX] = StandbyChannel()

    def _hold_matrix_device(self) -> None:
        """Check the device lock every TAKEOVER_SECONDS: give the device up when the lock is gone, take it when free."""
        lock = self.device_lock
        assert lock is not None
        while not self.stopping.wait(TAKEOVER_SECONDS):
            try:
                if self.matrix is not None:
                    if not lock.still_held():
                        log.error("matrix: lost the device lock; this worker stops using the Matrix device")
                        self._release_matrix()
                    continue
                if lock.try_acquire():
                    log.info("matrix: took the Matrix device over")
                    try:
                        self._connect_matrix()
                        self.pump.wake()  # the Matrix items it left to the old holder are its own now
                    except Exception:  # noqa: BLE001 - e.g. the homeserver is down: let go, try again
                        log.exception("matrix: could not start on the Matrix device")
                        self._release_matrix()
            except Exception:  # noqa: BLE001 - e.g. database restarting; look again shortly
                log.exception("matrix device lock check failed")

    def _release_matrix(self) -> None:
        self._stand_by()
        matrix, self.matrix = self.matrix, None
        if matrix is not None:
            matrix.stop()
        if self.device_lock is not None:
            self.device_lock.release()

    def _skipped_backends(self) -> frozenset[Backend]:
        """Matrix queues' staff items while another worker holds the device."""
        return frozenset({Backend.MATRIX}) if self.device_lock is not None and self.matrix is None else frozenset()

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
        if self.device_lock is not None:
            self.device_lock.release()
        if self.socket_mode is not None:
            self.socket_mode.close()
