"""PostgreSQL LISTEN for bank revisions: a running bot follows another process's change
within milliseconds instead of at its next poll (the poll stays, as the fallback)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.engine import make_url

from bot.storage.revisions import NOTIFY_CHANNEL

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5.0


class BankListener:
    """A daemon thread holding one connection that LISTENs on the bank's channel and
    calls `on_change` (in that thread) for every notification; it reconnects after errors.
    """

    def __init__(self, database_url: str, on_change: Callable[[], object]) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self.conninfo = url.render_as_string(hide_password=False)
        self.on_change = on_change
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bank-listener", daemon=True)
        self.listening = threading.Event()  # set while LISTEN is in force (for tests)

    def start(self) -> BankListener:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.listening.set()
                    while not self._stop.is_set():
                        for _ in connection.notifies(timeout=1.0, stop_after=1):
                            self._follow()
            except psycopg.Error as error:
                self.listening.clear()
                logger.warning("bank listener: %s; again in %.0fs", error, RETRY_AFTER_S)
                self._stop.wait(RETRY_AFTER_S)
        self.listening.clear()

    def _follow(self) -> None:
        try:
            self.on_change()
        except Exception:  # the poll will catch up; the listener must live on
            logger.exception("following a bank change failed")
