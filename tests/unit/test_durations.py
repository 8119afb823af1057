import pytest

from kubectl_sidecar.durations import parse_duration
from kubectl_sidecar.errors import InputError


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("30s", 30),
        ("10m", 600),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("250ms", 0.25),
        ("0", 0),
        ("45", 45),
        ("2m30s", 150),
    ],
)
def test_go_style_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "m", "10 m", "-1s", "1d"])
def test_bad_durations_are_input_errors_naming_the_flag(text):
    with pytest.raises(InputError, match="--timeout"):
        parse_duration(text, "--timeout")
