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
        # kubectl prints bad-input errors as one line, without the usage text.
        click.echo(f"error: {self.format_message()}", file=file, err=True)


class ApiError(SidecarError):
    """The API server answered a request with an error status."""

    def __init__(self, status, reason, message, verb=None, resource=None):
        self.status = status
        self.reason = reason
        self.verb = verb
        self.resource = resource
        super().__init__(message)


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
