"""A live status line for a long run: on a terminal only, redrawn under the log lines.

    [12/300 done, 4 running, 0 failed, 284 left] 2m05s elapsed, about 48m left

Off a terminal (CI logs, pipes) nothing is drawn and log lines pass through unchanged.
"""

from __future__ import annotations

import threading
import time

CLEAR_LINE = "\r\x1b[K"


def short_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def status_line(total, done, running, failed, left, elapsed) -> str:
    """The status line's text (pure: tested on its own)."""
    line = (
        f"[{done}/{total} done, {running} running, {failed} failed, {left} left] "
        f"{short_duration(elapsed)} elapsed"
    )
    finished = done + failed
    if finished and (running or left):
        remaining = elapsed / finished * (running + left)
        line += f", about {short_duration(remaining)} left"
    return line


class Board:
    def __init__(self, stream, clock=time.monotonic):
        self.stream = stream
        self.clock = clock
        self._lock = threading.Lock()
        self._line = ""
        self._total = 0
        self._started = None

    def start(self, total):
        self._total = total
        self._started = self.clock()

    def update(self, done, running, failed, left):
        if self._started is None:
            self._started = self.clock()
        text = status_line(self._total, done, running, failed, left, self.clock() - self._started)
        with self._lock:
            self._line = text
            self.stream.write(CLEAR_LINE + text)
            self.stream.flush()

    def say(self, text):
        """A log line above the status line."""
        with self._lock:
            self.stream.write(CLEAR_LINE + text + "\n" + self._line)
            self.stream.flush()

    def finish(self):
        with self._lock:
            if self._line:
                self.stream.write(CLEAR_LINE)
                self.stream.flush()
            self._line = ""
