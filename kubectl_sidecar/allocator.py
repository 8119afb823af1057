"""Tune glibc's malloc for a process that parses big list pages, some of it in threads."""

import ctypes
import sys

# From glibc's malloc.h.
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value
_ARENA_MAX = 2


def release_large_buffers():
    """Keep glibc's mmap threshold fixed at its default, and its arenas few.

    Each page of pods arrives as ~5 MB of bytes and text. glibc serves such blocks with mmap,
    but after the first is freed it raises its threshold above them, so later pages come from
    the heap and stay there as fragments: peak RSS then creeps up with every page. Fixing the
    threshold keeps it flat.

    glibc also gives threads their own arenas (up to 8 per core), and memory freed in one
    arena serves only the threads that use it: the next page's prefetch thread, switch's
    worker and watch threads. A switch over 600 workloads peaked at 79 MiB, at verify's second
    listing, and at 64 MiB with two arenas; the GIL serialises nearly all our allocations, so
    more arenas buy nothing. Call before any thread starts. Harmless where glibc or mallopt is
    absent (macOS, musl).

    At every start of status, though ctypes costs a small cluster ~2 ms: called once a list's
    first page shows it spans pages, it came too late, the buffers freed while that page was
    read having raised the threshold already (status -A at 10,000 pods: 63 -> 67 MiB).
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    mallopt(_M_ARENA_MAX, _ARENA_MAX)
