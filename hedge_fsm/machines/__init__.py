"""The machines: synchronous, sans-I/O, driven by events, speaking in commands."""
