"""The few errors kubectl-sidecar raises on purpose.

They are click exceptions so the CLI prints them as one line (`error: ...`) and exits
with the right code; nothing else in the package decides how the process ends.
"""

import click


class SidecarError(click.ClickException):
    """Something went wrong talking to the cluster or acting on it (exit 1)."""

    exit_code = 1

    def show(self, file=None):
        click.echo(f"error: {self.format_message()}", file=file, err=True)


class InputError(click.UsageError):
    """The user asked for something that can't be parsed or done as given (exit 2)."""

    def __init__(self, message):
        super().__init__(message)

    def show(self, file=None):
        show_usage_error(self, hint=False)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI runner, `timeout`): stop at once, report what was done, exit 143."""


LONGEST_ERROR = 300  # characters: a pasted blob of input is not echoed back whole


def show_usage_error(error: click.UsageError, hint: bool = True) -> None:
    """kubectl's shape for bad input: one `error:` line, then (for a flag that doesn't
    parse) where the usage is."""
    message = one_line(error.format_message())
    if len(message) > LONGEST_ERROR:
        message = message[:LONGEST_ERROR] + "... (shortened)"
    click.echo(f"error: {message}", err=True)
    if hint and error.ctx is not None:
        click.echo(f"See '{error.ctx.command_path} --help' for usage.", err=True)


class ApiError(SidecarError):
    """The API server answered a request with an error status."""

    def __init__(self, status, reason, message, verb=None, resource=None):
        self.status = status
        self.reason = reason
        self.verb = verb
        self.resource = resource
        super().__init__(message)

    @property
    def refusal(self):
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


def one_line(error):
    """An exception's text folded onto one line, for `error: ...` messages."""
    return " ".join(str(error).split())


def unless_forbidden(read, fallback=None, warn=None):
    """read(), or `fallback` when the API server refuses it (403 Forbidden).

    Users with narrower rights still get an answer from what they may read; warn(error), when
    given, says what could not be read.
    """
    try:
        return read()
    except ApiError as error:
        if error.status != 403:
            raise
        if warn is not None:
            warn(error)
        return fallback
