"""A thread of a serving process that does one round of work every EVERY_S (the 主动查单, the housekeeping):
a round the database refuses as busy waits for the next one; a bug goes to `on_error` and the thread lives on."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable
from typing import ClassVar

from sqlalchemy import Engine

from canbao.errors import CanbaoError


class Periodic:
    EVERY_S: float  # seconds between rounds (a test may set it on an instance)
    NAME: ClassVar[str]  # the thread's name
    JOIN_S: ClassVar[float] = 10.0  # `stop` waits this long for a round under way

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], dt.datetime],
        on_error: Callable[[BaseException], object] | None = None,
    ) -> None:
        self.engine, self.clock, self.on_error = engine, clock, on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def round(self) -> None:
        raise NotImplementedError

    def held(self) -> contextlib.AbstractContextManager[object]:
        """What the thread keeps open across its rounds (none here)."""
        return contextlib.nullcontext()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.NAME, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.JOIN_S)

    def _run(self) -> None:
        with self.held():
            while not self._stop.wait(self.EVERY_S):
                try:
                    self.round()
                except CanbaoError:
                    pass  # the database busy: the next round
                except Exception as exc:  # a bug: logged, the thread lives on
                    if self.on_error is not None:
                        self.on_error(exc)
