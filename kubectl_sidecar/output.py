"""What happens to a command's text once its reader has gone (`... | head`).

kubectl, like any Go program, dies of SIGPIPE when its stdout's reader goes: quietly, and the
shell reports 141. A read-only command does the same here. A command that changes the cluster
must not: stopped mid-write it leaves the mesh half switched. Its text streams outlive their
reader: what can't be written is dropped and the run goes on to its own end and exit code.
"""

import errno
import os

SIGPIPE_EXIT = 141  # what a shell reports for a process that SIGPIPE ended: 128 + 13


def is_broken_pipe(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.EPIPE, errno.EINVAL)


def silence(stream) -> None:
    """Point the stream's descriptor at /dev/null, so that what is still written to it (and
    Python's flush at exit) goes nowhere instead of failing again."""
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's capture): nothing will flush it at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)


class Survivor:
    """A text stream that outlives its reader: after a broken pipe, writes are dropped."""

    def __init__(self, stream):
        self.stream = stream
        self.lost = False

    def write(self, text: str) -> int:
        if not self.lost:
            self._guarded(self.stream.write, text)
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            self._guarded(self.stream.flush)

    def isatty(self) -> bool:
        return not self.lost and self.stream.isatty()

    def _guarded(self, call, *args):
        try:
            call(*args)
        except OSError as error:
            if not is_broken_pipe(error):
                raise
            self.lost = True
            silence(self.stream)
