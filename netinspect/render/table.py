"""Tables: the only module that imports tabulate."""

from __future__ import annotations

from typing import Iterable, Sequence


def table(rows: Iterable[Sequence], headers: Sequence[str], *, align: Sequence[str] | None = None) -> str:
    # Imported here, not at module top: tabulate (with wcwidth) costs about as much as a
    # bare interpreter start, and key_values() users should not pay it (SPEC 4 start-up).
    from tabulate import tabulate

    return tabulate(list(rows), headers=list(headers), tablefmt="plain", colalign=align, disable_numparse=True)


def key_values(pairs: Iterable[tuple[str, str]]) -> str:
    """Label/value lines, labels padded to one column."""
    pairs = list(pairs)
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in pairs)
