"""Shared by the fuzz tests: the hypothesis profiles (short and deterministic in the suite, long and random on
demand with CROSSMODAL_FUZZ=long) and a hang guard. A helper module, not a conftest.py: a second conftest.py would
take the name `conftest` that other tests import REPO and rerun_smoke from."""
from __future__ import annotations

import faulthandler
import os
import signal
from contextlib import contextmanager
from typing import Iterator

from hypothesis import HealthCheck, settings

# The suite: few examples, a fixed example sequence (CI is deterministic), no example database in the repository.
settings.register_profile("fuzz-suite", max_examples=int(os.environ.get("CROSSMODAL_FUZZ_EXAMPLES", "20")),
                          deadline=5000, derandomize=True, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
# On demand (CROSSMODAL_FUZZ=long): many random examples; failures print a blob to reproduce them with.
settings.register_profile("fuzz-long", max_examples=int(os.environ.get("CROSSMODAL_FUZZ_EXAMPLES", "3000")),
                          deadline=10000, derandomize=False, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

LONG = os.environ.get("CROSSMODAL_FUZZ", "") == "long"
FUZZ = settings(settings.get_profile("fuzz-long" if LONG else "fuzz-suite"))
HANG_SECONDS = 10  # one example (one reader call on a file of a few kB) far exceeds this only when it hangs


class Hang(AssertionError):
    """A reader took longer than the hang guard allows on one input."""


@contextmanager
def no_hang(what: str, seconds: int = HANG_SECONDS) -> Iterator[None]:
    """Fail with Hang when the body runs longer than `seconds` (SIGALRM for Python-level loops); a hang inside C
    code that never returns to Python dumps the stacks and ends the process after 6x as long instead of blocking."""
    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"{what} ran for more than {seconds} s on one input (a hang?)")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    faulthandler.dump_traceback_later(6 * seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check_error(err: BaseException, allowed: tuple[type[BaseException], ...], *names: str,
                one_line: bool = True) -> None:
    """An error a reader raised must be one of the project's clear error types and name the input (one of `names`),
    on one line unless it quotes a parser's report; anything else escapes as the failure hypothesis reports."""
    if not isinstance(err, allowed) or isinstance(err, Hang):
        raise err
    text = str(err)
    assert text and (not one_line or "\n" not in text.strip()), f"{type(err).__name__} is not one line: {text!r}"
    assert any(n in text for n in names), f"{type(err).__name__} does not name {names}: {text!r}"
