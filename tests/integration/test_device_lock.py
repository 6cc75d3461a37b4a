"""One worker at a time holds the bot's Matrix device: a PostgreSQL advisory lock, or a lock file on SQLite."""

from __future__ import annotations

from adapters.matrix.device_lock import DeviceLock

HOMESERVER, BOT = "http://hs.invalid", "@bot:hs"


def test_only_one_holds_the_device_and_another_takes_it_when_released(container):
    first, second = DeviceLock(container.engine, HOMESERVER, BOT), DeviceLock(container.engine, HOMESERVER, BOT)
    other_bot = DeviceLock(container.engine, HOMESERVER, "@other:hs")
    try:
        assert first.try_acquire() and first.still_held()
        assert not second.try_acquire() and not second.held
        assert other_bot.try_acquire()  # another bot (or homeserver) is another device
        first.release()
        assert second.try_acquire() and second.still_held()
        assert not first.try_acquire()
    finally:
        for lock in (first, second, other_bot):
            lock.release()
