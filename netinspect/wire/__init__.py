"""Header decoders: bytes in, records out. Lengths are checked, malformations flagged."""
