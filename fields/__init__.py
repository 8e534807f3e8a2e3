"""Reading untrusted bodies: the fields layer below the edge proxy and reveal.

It owns the strict grammars (header parameters, form, JSON, multipart), the per-family readings of field
names and JSON keys, the limits on protected fields, and one way to select a body's protected values and
transform each one in a single pass, keeping every other byte. The edge's encryption and reveal's
decryption are two such transforms.

It may not touch: keys of any kind, I/O (sockets, files, the event loop), aiohttp, or any package of ours
that does (tests/security/test_boundaries.py).
"""
