"""Logging that every entry point shares: no request bytes, no secrets, one record on one line.

Not edge-specific: `fle proxy`, `fle reveal`, `fle origin` and `fle decrypt` all log through it, and it
imports nothing of ours (edge_proxy, reveal, origin and decryptor may all import it). See docs/security.md
("No plaintext in any log").
"""

from .escape import escape, escape_lines
from .scrub import OWN_LOGGERS, NoRequestBytes, install, scrubbed_traceback
from .setup import configure, stream_handler

__all__ = [
    "OWN_LOGGERS",
    "NoRequestBytes",
    "configure",
    "escape",
    "escape_lines",
    "install",
    "scrubbed_traceback",
    "stream_handler",
]
