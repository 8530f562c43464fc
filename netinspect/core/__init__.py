"""Pure logic: records, state tables, tracker, subnet arithmetic, session protocols.

Standard library only and no I/O: a test enforces it.
"""
