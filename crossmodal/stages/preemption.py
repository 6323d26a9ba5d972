"""Stopping a training stage cleanly when the scheduler asks.

SIGTERM, or SIGUSR1 which some schedulers send first, ends the optimiser step in progress, writes a step checkpoint
and stops the run with exit status 128 + the signal number, as if killed by it (crossmodal.errors.Preempted).
`--resume` continues from that checkpoint. Outside a training stage (data generation, evaluation, probes) the
signals keep their default effect: the run ends at once, and `--resume` repeats the unfinished part.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from crossmodal.signals import STOP_SIGNALS


def signal_name(signum: int) -> str:
    """'SIGTERM' for 15: how the log and the error line name a stop signal."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopRequests:
    """While active, SIGTERM and SIGUSR1 only record that a stop was asked for.

    It is active in a `with` block on the main thread. `signum` is then the first such signal; further signals,
    such as a second SIGTERM while the checkpoint is written, change nothing. The previous handlers are restored
    on exit.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _record(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():  # handlers can be set on the main thread only
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._record)
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}


def agreed_signal(stop: StopRequests, accelerator: Any) -> int:
    """The stop signal any process has received, 0 for none, the same on every process.

    Every process then stops after the same step. With one process there is no communication at all.
    """
    local = stop.signum or 0
    if accelerator.num_processes == 1:
        return local
    from crossmodal.distributed import max_over_ranks

    return max_over_ranks(local, accelerator.device)

