"""Shell completion, two ways, from one source: the click command tree and the value callbacks
below (so completion can't drift from the flags).

- `kubectl sidecar <TAB>`: since 1.26 kubectl runs `kubectl_complete-sidecar` with the words
  after the plugin's name and the word being completed ("" for a new word). It reads one
  completion per line (`value<TAB>description`), then `:<directive>`, cobra's ShellCompDirective
  (kubectl's pkg/cmd/plugin/plugin_completion.go, cobra's completions.go). A non-zero exit
  discards everything, and our stderr reaches the user's terminal: we stay silent.
- `kubectl-sidecar` run directly: `kubectl sidecar completion bash|zsh|fish` prints click's script
  (completers.script).

This module sits above cli.py: it is the entry point of `kubectl_complete-sidecar` and
completes over cli's command tree. The flags' value callbacks are in completers.py, below both.
"""

from __future__ import annotations

import sys

from kubectl_sidecar.completers import COMPLETE_VAR

# cobra's ShellCompDirective bits.
DIRECTIVE_ERROR = 1
DIRECTIVE_NO_FILE_COMP = 4
DIRECTIVE_FILTER_DIRS = 16
DIRECTIVE_DEFAULT = 0  # the shell completes file names


# --- kubectl's plugin completion protocol -----------------------------------------------------


def protocol_output(args):
    """What kubectl_complete-sidecar prints for these arguments (the words after `sidecar`, the
    last being the one completed): completion lines, then `:<directive>`."""
    from click.shell_completion import ShellComplete

    from kubectl_sidecar.cli import cli

    words, incomplete = (list(args[:-1]), args[-1]) if args else ([], "")
    try:
        items = ShellComplete(cli, {}, "kubectl sidecar", COMPLETE_VAR).get_completions(
            words, incomplete
        )
    except Exception:  # noqa: BLE001 - words click can't parse: nothing to offer, say so
        return f":{DIRECTIVE_ERROR}\n"
    kinds = {item.type for item in items}
    if "file" in kinds:
        return f":{DIRECTIVE_DEFAULT}\n"
    if "dir" in kinds:
        return f":{DIRECTIVE_FILTER_DIRS}\n"
    lines = [_line(item.value, item.help) for item in items]
    return "".join(line + "\n" for line in lines) + f":{DIRECTIVE_NO_FILE_COMP}\n"


def _line(value, description):
    """`value` or `value<TAB>description`, the description on one line (its first sentence)."""
    import re

    text = " ".join(str(description or "").split())
    # A sentence ends at a full stop before a capital letter ("e.g. -l app=cart" goes on).
    text = re.split(r"\.\s+(?=[A-Z])", text, maxsplit=1)[0].rstrip(".")
    return f"{value}\t{text}" if text else str(value)


def main():
    """The `kubectl_complete-sidecar` entry point."""
    import io
    import os

    # Anything on stderr lands in the middle of the user's command line; nothing may go there.
    sys.stderr = io.StringIO()
    try:
        out = protocol_output(sys.argv[1:])
    except Exception:  # noqa: BLE001 - see above: silent, and tell the shell to ignore us
        out = f":{DIRECTIVE_ERROR}\n"
    try:
        sys.stdout.write(out)
        sys.stdout.flush()
    except BrokenPipeError:
        os._exit(0)
    return 0
