"""Ask glibc to hand large buffers straight back to the OS when they are freed."""

import ctypes
import sys

_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
_MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value


def release_large_buffers():
    """Keep glibc's mmap threshold fixed at its default.

    Each page of pods arrives as ~5 MB of bytes and text. glibc serves such blocks with mmap,
    but after the first is freed it raises its threshold above them, so later pages come from
    the heap and stay there as fragments: peak RSS then creeps up with every page. Fixing the
    threshold keeps it flat. Harmless where glibc or mallopt is absent (macOS, musl).
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
