"""Progress bars: one configuration for every command that makes a user wait.

Each bar is a ``tqdm`` on stderr that shows the step it is at, the time spent and an estimate
of the time left.  It draws only when stderr is a terminal (``disable=None``): redirected to a
file or a pipe, a command writes no bar at all, so a log or ``actlab table > t.md 2>&1`` holds
no carriage returns.  A finished or failed bar erases its line (``leave=False``), so that the
command's output, or its one-line error, stands alone.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]"
"""The current item, the share done, the steps done of all, time spent < time left."""


class _Bar(tqdm):  # type: ignore[misc]
    """A tqdm that, given ``tick``, redraws itself that often, so that its clock runs between steps."""

    def __init__(self, *args: Any, tick: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stop = threading.Event()
        if tick and not self.disable:
            threading.Thread(target=self._tick, args=(tick,), daemon=True, name="actlab-progress").start()

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            self.refresh()

    def close(self) -> None:
        self._stop.set()
        super().close()


def bar(
    total: float | None, desc: str = "", *, unit: str = "step", delay: float = 0.0, tick: float | None = None
) -> tqdm:
    """A bar of ``total`` steps on stderr, drawn only on a terminal; use it as a context manager.
    ``delay``: draw nothing before that many seconds (no flash of a bar for work that may be instant);
    ``tick``: redraw every ``tick`` seconds (steps minutes apart: the time spent still counts up)."""
    return _Bar(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=None,  # None: no bar unless stderr is a terminal
        leave=False,
        dynamic_ncols=True,
        mininterval=0.2,
        smoothing=0.1,  # the estimate follows recent steps: they differ in cost (one activation from another)
        bar_format=BAR_FORMAT if total else None,
        delay=delay,
        tick=tick,
    )


def move(b: tqdm, done: float, total: float | None = None, desc: str | None = None) -> None:
    """Set the bar to ``done`` of ``total`` steps (the total may change as work is discovered), at ``desc``."""
    if b.disable:
        return
    if total is not None and total != b.total:
        b.total = total
    if desc is not None and desc != b.desc:
        b.set_description_str(desc, refresh=False)
        b.n = done
        b.refresh()  # at once: a new item may take long (a kernel compiling), and the bar names it
    elif done >= b.n:
        b.update(done - b.n)  # redraws at most every mininterval
    else:
        b.n = done
        b.refresh()


def reporter(b: tqdm, prefix: str = "") -> Callable[[int, int, str], None]:
    """A ``progress(i, total, label)`` callback (what ``bench.run`` calls) that moves ``b``."""

    def report(i: int, total: int, label: str) -> None:
        move(b, i, total, f"{prefix}{label}")

    return report
