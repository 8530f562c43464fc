"""ANSI colour that only reinforces what the text says; off unless Environment.color."""

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34", "cyan": "36"}


def paint(text: str, style: str, enabled: bool) -> str:
    if not enabled or style not in _CODES:
        return text
    return f"\x1b[{_CODES[style]}m{text}\x1b[0m"
