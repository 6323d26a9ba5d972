"""The signals a scheduler sends to stop a run, and the rule that DataLoader workers ignore them.

A training stage records SIGTERM and SIGUSR1 and stops after its step (crossmodal/stages/preemption.py). Worker
processes of a DataLoader get the same signals, sent to the whole process group; they ignore them and end with the
main process.
"""
from __future__ import annotations

import signal

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


def ignore_stop_signals(worker_id: int) -> None:
    """DataLoader worker_init_fn: the worker ignores SIGTERM and SIGUSR1.

    The worker then lives until the main process has finished its step and checkpoint, and ends with it.
    """
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
