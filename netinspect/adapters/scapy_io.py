"""The only module that imports scapy.

Scapy costs most of a second to import, so it is loaded on first use, never at import
time of any netinspect module. Everything else asks `load()` for the scapy namespace.
"""

from __future__ import annotations

import logging

_SCAPY = None


def load():
    """Import scapy once, quietly, and return the `scapy.all` module."""
    global _SCAPY
    if _SCAPY is None:
        # scapy warns on import about missing optional tools; that is noise for our users.
        logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
        import scapy.all as scapy_all  # noqa: PLC0415 - deliberate lazy import

        scapy_all.conf.verb = 0
        _SCAPY = scapy_all
    return _SCAPY


def module(name: str):
    """A scapy submodule such as 'arch.linux' or 'arch.common', loaded after `load()`.

    Kept here so that this file stays the only one that imports scapy.
    """
    import importlib  # noqa: PLC0415

    load()
    return importlib.import_module(f"scapy.{name}")
