"""A progress line for long loops, on stderr, with elapsed time and an estimate of what is left;
and the formats of durations and sizes that ``pysoft run`` and ``pysoft report`` print.

On a terminal it redraws one line; elsewhere (logs, CI) it prints a line every 10 % so logs stay
short.  No dependency beyond the standard library.
"""

import sys
import time


class Progress:
    def __init__(self, total, label, stream=None, enabled=True):
        self.total = max(int(total), 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.done = 0
        self._last_decile = -1

    def update(self, n=1):
        self.done += n
        if not self.enabled:
            return
        frac = min(self.done / self.total, 1.0)
        decile = int(frac * 10)
        if not self.tty and decile == self._last_decile and self.done < self.total:
            return
        self._last_decile = decile
        elapsed = time.perf_counter() - self.start
        left = elapsed / frac - elapsed if frac > 0 else float("nan")
        bar = "#" * int(frac * 24)
        line = (f"{self.label}: [{bar:<24}] {self.done}/{self.total} {100 * frac:5.1f}% "
                f"elapsed {elapsed:6.1f} s, left ~{left:6.1f} s")
        if self.tty:
            self.stream.write("\r" + line + ("\n" if self.done >= self.total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self):
        if self.enabled and self.tty and self.done < self.total:
            self.stream.write("\n")


def hms(seconds):
    """A duration as H:MM:SS (negative durations as 0:00:00)."""
    s = int(round(max(seconds, 0.0)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def size(nbytes):
    """A size in bytes as B, kB, MB, GB or TB (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000.0
