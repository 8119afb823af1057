"""Settings for the whole suite."""

import signal


def pytest_configure(config):
    # A shell without job control starts a background command with SIGINT ignored (POSIX),
    # and children inherit that through exec: a suite started so (`make test &`, some CI
    # runners) handed the plugin processes it starts a Ctrl-C they could never see, and the
    # tests that press Ctrl-C hung or failed (seen here: pytest and the plugin both had
    # SIGINT in SigIgn). A user's Ctrl-C reaches a foreground process that doesn't ignore
    # it: restore Python's handler, so every process the suite starts gets SIGINT as a
    # user's would (exec resets a handled signal to its default).
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
