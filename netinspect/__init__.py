"""netinspect: network diagnostics and packet inspection."""

__version__ = "0.1.0"
