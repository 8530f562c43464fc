"""Tables: the only module that imports tabulate."""

from __future__ import annotations

from typing import Iterable, Sequence

from tabulate import tabulate


def table(rows: Iterable[Sequence], headers: Sequence[str], *, align: Sequence[str] | None = None) -> str:
    return tabulate(list(rows), headers=list(headers), tablefmt="plain", colalign=align, disable_numparse=True)


def key_values(pairs: Iterable[tuple[str, str]]) -> str:
    """Label/value lines, labels padded to one column."""
    pairs = list(pairs)
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in pairs)
