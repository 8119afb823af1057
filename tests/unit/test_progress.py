"""The live status line: its text, and how it stays under the log lines."""

import io

import pytest

from kubectl_sidecar.progress import CLEAR_LINE, Board, short_duration, status_line


@pytest.mark.parametrize(
    "seconds, text",
    [(0, "0s"), (59.9, "59s"), (61, "1m01s"), (3599, "59m59s"), (3600, "1h00m"), (7322, "2h02m")],
)
def test_short_durations(seconds, text):
    assert short_duration(seconds) == text


def test_the_estimate_follows_the_pace_so_far():
    # 10 finished in 100 s; 4 running and 26 left at that pace take 300 s more.
    assert status_line(40, 9, 4, 1, 26, 100) == (
        "[9/40 done, 4 running, 1 failed, 26 left] 1m40s elapsed, about 5m00s left"
    )


def test_no_estimate_before_anything_finished_or_after_everything_did():
    assert status_line(40, 0, 4, 0, 36, 12).endswith("12s elapsed")
    assert status_line(3, 3, 0, 0, 0, 30).endswith("30s elapsed")


def test_log_lines_print_above_the_status_line_which_is_redrawn():
    stream = io.StringIO()
    clock = iter([0.0, 5.0, 6.0]).__next__
    board = Board(stream, clock=clock)
    board.start(2)
    board.update(done=0, running=1, failed=0, left=1)
    board.say("deployment/cart -n shop restarted")
    board.finish()
    assert stream.getvalue() == (
        CLEAR_LINE
        + "[0/2 done, 1 running, 0 failed, 1 left] 5s elapsed"
        + CLEAR_LINE
        + "deployment/cart -n shop restarted\n"
        + "[0/2 done, 1 running, 0 failed, 1 left] 5s elapsed"
        + CLEAR_LINE
    )
