"""All I/O: capture files, live capture, interfaces, name lookup, socket loops."""
