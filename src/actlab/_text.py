"""Plain-text tables for the terminal: one layout for every command's output."""

from __future__ import annotations

from collections.abc import Collection, Sequence


def table(rows: Sequence[Sequence[object]], header: Sequence[object], *, right: Collection[int] = ()) -> str:
    """``header``, a rule of dashes and ``rows``, columns two spaces apart, each as wide as its widest cell;
    left-aligned but for the columns numbered in ``right``; no trailing spaces.

    >>> print(table([("relu", "1.00"), ("gelu", "12.5")], ("name", "ms"), right={1}))
    name     ms
    ----  ----
    relu  1.00
    gelu  12.5
    """
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[object]) -> str:
        return "  ".join(
            str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])
