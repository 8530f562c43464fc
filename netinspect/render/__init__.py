"""Presentation: tables, ladders, binary views, JSON. No data gathering here."""
