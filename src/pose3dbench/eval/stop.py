"""Clean stops: Ctrl-C and SIGTERM (docker stop, SLURM preemption, notebook shutdown) end a run between batches.

A ``StopController`` is made per run. ``installed()`` sets the process's SIGINT/SIGTERM handlers for the
duration of the run (and restores the previous ones); outside batch loops a signal raises
``KeyboardInterrupt`` at once; inside ``batch_loop()`` the batch in flight finishes first (so no DataLoader
hand-over is cut in half and the finished batches are saved for the re-run) and the loop's next
``check()`` raises; a second signal stops at once.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Iterator


class StopController:
    """Deferred stop requests of one run: ``defer`` while a batch loop runs, ``pending`` once a signal came."""

    def __init__(self) -> None:
        self.defer = False
        self.pending = False
        self._main_pid = os.getpid()

    def _handler(self, signum, frame) -> None:
        if os.getpid() != self._main_pid:  # the copy a DataLoader worker inherited: behave as the default would
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if self.defer and not self.pending:
            self.pending = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator["StopController"]:
        """This controller handles SIGINT and SIGTERM within (main thread only; elsewhere a no-op)."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            self._main_pid = os.getpid()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    previous[sig] = signal.signal(sig, self._handler)
                except (ValueError, OSError):
                    pass
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextlib.contextmanager
    def batch_loop(self) -> Iterator[None]:
        """Within: a stop signal is deferred to the next ``check()`` (the end of a batch)."""
        outer = self.defer
        self.defer = True
        try:
            yield
        finally:
            self.defer = outer
            if not outer:
                self.pending = False

    def check(self) -> None:
        """KeyboardInterrupt if a stop was requested during the current batch."""
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt


__all__ = ["StopController"]
