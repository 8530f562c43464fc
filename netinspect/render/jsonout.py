"""JSON documents: every --json output carries schema_version."""

from __future__ import annotations

import json
from typing import Any

SCHEMA_VERSION = 1


def document(kind: str, **body: Any) -> dict:
    """A top-level JSON document for one command's output."""
    return {"schema_version": SCHEMA_VERSION, "kind": kind, **body}


def dumps(doc: Any, *, indent: int | None = 2) -> str:
    return json.dumps(doc, indent=indent, ensure_ascii=False, default=_default)


def ns_to_seconds(ns: int | None) -> float | None:
    """Integer nanoseconds inside the program become float seconds in JSON."""
    return None if ns is None else ns / 1e9


def _default(value: Any):
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "_asdict"):
        return value._asdict()
    return str(value)
