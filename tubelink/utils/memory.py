"""Peak memory of the running process, for the benchmark tools."""

from __future__ import annotations

import resource

__all__ = ["peak_rss_bytes"]


def peak_rss_bytes() -> int:
    """This process's peak resident memory in bytes (VmHWM on Linux, else ru_maxrss).

    Not ru_maxrss where VmHWM exists: a child started by fork + exec inherits its parent's ru_maxrss on Linux, so
    every benchmark subprocess would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
