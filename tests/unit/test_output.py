import errno

import pytest

from kubectl_sidecar.output import Survivor

BROKEN = BrokenPipeError(errno.EPIPE, "Broken pipe")


class Pipe:
    """A text stream whose reader goes away after `lines` writes."""

    def __init__(self, lines, error=BROKEN):
        self.written, self.lines, self.error = [], lines, error

    def write(self, text):
        if len(self.written) >= self.lines:
            raise self.error
        self.written.append(text)

    def flush(self):
        pass

    def isatty(self):
        return True


def test_writes_after_the_reader_has_gone_are_dropped_not_raised():
    pipe = Pipe(lines=1)
    stream = Survivor(pipe)
    for text in ("plan\n", "restarted\n", "done\n"):
        assert stream.write(text) == len(text)
    stream.flush()
    assert pipe.written == ["plan\n"]
    assert stream.lost and not stream.isatty()


def test_other_write_errors_still_raise():
    stream = Survivor(Pipe(lines=0, error=OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(OSError, match="No space"):
        stream.write("plan\n")
    assert not stream.lost
