"""kubectl-style durations ("30s", "1m30s", "1.5h", "0"), as seconds."""

import re

from kubectl_sidecar.errors import InputError

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text, flag="duration"):
    """Seconds in a Go duration string; a bare integer means seconds, as for --request-timeout."""
    value = text.strip()
    if re.fullmatch(r"\d+", value):
        return float(value)
    parts = _PART.findall(value)
    if not value or "".join(number + unit for number, unit in parts) != value:
        raise InputError(
            f'invalid value "{text}" for {flag}: use a duration such as 30s, 5m or 1h30m'
        )
    return sum(float(number) * _UNITS[unit] for number, unit in parts)
