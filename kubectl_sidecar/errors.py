"""The few errors kubectl-sidecar raises on purpose, and the exit codes they end a run with.

They know nothing of click: the CLI (cli.py) prints them as one line (`error: ...`) and exits
with their `exit_code`; nothing else in the package decides how the process ends.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any


class ExitCode(enum.IntEnum):
    """How a run ends, as kubectl's and the shell's conventions spell it."""

    OK = 0
    ERROR = 1  # something went wrong talking to the cluster or acting on it
    USAGE = 2  # bad input
    UNKNOWN = 3  # status --exit-code: whether anything needs action can't be told
    INTERRUPTED = 130  # Ctrl-C
    TERMINATED = 143  # SIGTERM


class Error(Exception):
    """What a deliberate error has: one message and the exit code it ends a run with."""

    exit_code: int = ExitCode.ERROR
    # True when what went wrong was already said (one line per context): nothing more to print.
    said = False

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def format_message(self) -> str:
        return self.message


class SidecarError(Error):
    """Something went wrong talking to the cluster or acting on it (exit 1)."""


class InputError(Error):
    """The user asked for something that can't be parsed or done as given (exit 2)."""

    exit_code = ExitCode.USAGE


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI runner, `timeout`): stop at once, report what was done, exit 143."""


LONGEST_ERROR = 300  # characters: a pasted blob of input is not echoed back whole


def usage_line(message: str) -> str:
    """kubectl's one `error:` line for bad input, folded onto one line and shortened."""
    message = one_line(message)
    if len(message) > LONGEST_ERROR:
        message = message[:LONGEST_ERROR] + "... (shortened)"
    return f"error: {message}"


class ApiError(SidecarError):
    """The API server answered a request with an error status."""

    # Transient answers worth another try: the server is restarting, overloaded or briefly away.
    TRANSIENT = frozenset((429, 500, 502, 503, 504))

    def __init__(
        self,
        status: int,
        reason: str | None,
        message: str,
        verb: str | None = None,
        resource: str | None = None,
    ):
        self.status = status
        self.reason = reason
        self.verb = verb
        self.resource = resource
        super().__init__(message)

    @property
    def bad_request(self) -> bool:
        return self.status == 400

    @property
    def unauthorized(self) -> bool:
        return self.status == 401

    @property
    def forbidden(self) -> bool:
        return self.status == 403

    @property
    def denied(self) -> bool:
        """Not allowed: the credentials are refused (401) or lack the permission (403)."""
        return self.status in (401, 403)

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """409: someone else holds or changed the object first."""
        return self.status == 409

    @property
    def gone(self) -> bool:
        """410: the server no longer has the resourceVersion asked for."""
        return self.status == 410

    @property
    def transient(self) -> bool:
        return self.status in self.TRANSIENT

    @property
    def refusal(self) -> str | None:
        """Why the server refused a write for good: "policy" (an admission webhook or policy,
        a quota), "rights" (RBAC) or "invalid"; None where running again may succeed (a
        conflict with another writer, an object deleted meanwhile, a busy server)."""
        if any(mark in self.message for mark in _POLICY_MARKS):
            return "policy"
        if self.status in (401, 403):
            return "rights"
        if self.status in (400, 422):
            return "invalid"
        return None


# How the API server words a refusal that came from admission control, not from RBAC.
_POLICY_MARKS = ("admission webhook", "denied request", "denied the request", "exceeded quota")


class Unreachable(SidecarError):
    """The API server could not be reached, or did not answer in time."""


def one_line(error: object) -> str:
    """An exception's text folded onto one line, for `error: ...` messages."""
    return " ".join(str(error).split())


def unless_forbidden(
    read: Callable[[], Any],
    fallback: Any = None,
    warn: Callable[[ApiError], object] | None = None,
) -> Any:
    """read(), or `fallback` when the API server refuses it (403 Forbidden).

    Users with narrower rights still get an answer from what they may read; warn(error), when
    given, says what could not be read.
    """
    try:
        return read()
    except ApiError as error:
        if not error.forbidden:
            raise
        if warn is not None:
            warn(error)
        return fallback
