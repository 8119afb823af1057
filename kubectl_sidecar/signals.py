"""Hold Ctrl-C and SIGTERM across a few statements that must not be cut in two.

A signal is handled between any two bytecodes of the main thread. Between submitting a
restart to the pool and recording it as running, a Ctrl-C would find nothing running and
stop waiting for a rollout that has in fact started.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_held() -> Iterator[None]:
    """Run the block whole; a Ctrl-C or SIGTERM that arrives meanwhile is delivered after it,
    to the handler that was in place (one of each kind: a second one within the same few
    statements adds nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Python runs signal handlers in the main thread only
        return
    arrived: list[int] = []

    def hold(signum: int, frame: object) -> None:
        if signum not in arrived:
            arrived.append(signum)

    # A handler installed outside Python (getsignal None) could not be put back: left alone.
    held = [signum for signum in HELD if signal.getsignal(signum) is not None]
    previous = {signum: signal.signal(signum, hold) for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for waiting in arrived:
            signal.raise_signal(waiting)
