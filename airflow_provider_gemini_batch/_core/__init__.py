"""The pure (sans-I/O) core shared by the sync hook, the async hook and the trigger.

Nothing in this package performs I/O: it builds requests, parses responses, maps errors and
states, and encodes JSONL. ``requests`` and ``httpx`` are only transports around it.
"""
