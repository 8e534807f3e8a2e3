"""Keep request bytes out of every log line, whichever library writes it, and one record on one line.

aiohttp's HTTP parser puts the offending raw bytes into the message of the exception it raises on a
malformed request (`Invalid character in chunk size: b'<the bytes>'`, `Data after Connection: close`,
`Invalid header value char: b'X-Phone: ...'`, a bad request line), and aiohttp.server then logs that
exception at ERROR with its traceback; a body that breaks off mid-chunk surfaces in our handler as an
exception carrying the same kind of text. Those bytes can be a protected field's plaintext.

Why a logging filter and not a protocol hook: the bytes travel in exception messages, and every library
(aiohttp.server / .web / .access / .client, asyncio's debug messages and "exception never retrieved"
reports, our own `log.exception`) ends up in the `logging` module. One filter on the handlers that
write (and on the library loggers, for handlers added later) sees every record whatever raised it; a
hook in aiohttp's protocol would cover only the parser errors we know of today and break with its
internals. The filter rewrites a record before any handler formats it:

- an exception (`exc_info`) is replaced by a rendering that keeps the traceback's frames (code
  locations, no data) and, for each exception in the chain, its type, the HTTP status of an aiohttp
  `HttpProcessingError`, and nothing of its message (the offset aiohttp prints is a caret under the
  bytes, so it goes with them);
- in a record from a library logger (anything outside our own packages, whose messages never hold
  request values by the project's rule), an argument that is not a number, a bool, None, or an IP
  address (aiohttp's "Error handling request from %s") is replaced by its type name, e.g. `<bytes>`.
  The message template is the library's code, so it stays. A message a library formatted itself
  (asyncio's exception handler appends `future: <Task ... exception=BadHttpMessage(...)>` lines) keeps
  only its first line; a non-string message (`logger.error(exc)`) becomes the exception's type;
- every record, ours included, is then formatted once and its control characters escaped (logsafe.escape):
  our own messages may name things that came in a request (a path, a provider id read from a ciphertext
  header), and a newline there must not start a line that looks like another record. The traceback
  text keeps its line breaks (frames and types only, written by us) with every other control escaped.

What the client gets back is not a log: aiohttp answers a malformed request with 400 and the parser's
message as the body, which quotes the client's own bytes back to it on its own connection. That is
accepted (nothing is stored or forwarded); see docs/security.md.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import sys
import traceback
from types import TracebackType

from .escape import escape, escape_lines

# our packages: their messages name things, never values (the project's rule); their arguments are kept
OWN_LOGGERS = (
    "awsenv", "decryptor", "edge_proxy", "fle", "keystore", "loadgen", "logsafe", "origin", "profiles",
    "reveal", "store",
)  # fmt: skip
LIBRARY_LOGGERS = (
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
    "asyncio",
)
_CHAIN_LIMIT = 8


@functools.lru_cache(maxsize=1024)  # logger names are few and fixed; this runs for every record
def _own(name: str) -> bool:
    return any(name == own or name.startswith(own + ".") for own in OWN_LOGGERS)


def _describe(error: BaseException) -> str:
    """An exception as type (and HTTP status), never its message: messages may quote request bytes."""
    kind = f"{type(error).__module__}.{type(error).__qualname__}"
    # looked up, not imported: a process that never imported aiohttp (most `fle` commands) cannot hold one
    # of its exceptions, and importing it would cost every command about 150 ms
    http_exceptions = sys.modules.get("aiohttp.http_exceptions")
    if http_exceptions is not None and isinstance(error, http_exceptions.HttpProcessingError):
        return f"{kind}: HTTP {error.code} (request bytes not logged)"
    return f"{kind}: (message not logged)"


def scrubbed_traceback(error: BaseException, tb: TracebackType | None = None) -> str:
    """The traceback of `error` and its causes, frames kept, every exception message dropped."""
    blocks: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    current_tb = tb if tb is not None else error.__traceback__
    while current is not None and id(current) not in seen and len(blocks) < _CHAIN_LIMIT:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current_tb)) if current_tb is not None else ""
        blocks.append("Traceback (most recent call last):\n" + frames + _describe(current))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
        current_tb = current.__traceback__ if current is not None else None
    blocks.reverse()  # causes first, as Python prints them
    return "\n\nThe above exception led to:\n\n".join(blocks)


def _safe_arg(value: object) -> object:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return f"<{type(value).__name__}>"
        return value
    if isinstance(value, BaseException):
        return _describe(value)
    return f"<{type(value).__name__}>"


class NoRequestBytes(logging.Filter):
    """Rewrites each record so that no request bytes reach a handler (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_fle_scrubbed", False):
            return True
        record._fle_scrubbed = True
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = escape_lines(scrubbed_traceback(record.exc_info[1], record.exc_info[2]))
            record.exc_info = None
        elif record.exc_text:  # formatted by someone before us: we cannot tell what it holds
            record.exc_text = "(exception text not logged)"
        if record.stack_info and not _own(record.name):
            record.stack_info = None
        elif record.stack_info:
            record.stack_info = escape_lines(record.stack_info)
        if not _own(record.name):
            self._scrub_arguments(record)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging would print a traceback to stderr instead
            message = f"(unformattable message from {record.name})"
        record.msg, record.args = escape(message), None
        return True

    @staticmethod
    def _scrub_arguments(record: logging.LogRecord) -> None:
        if not isinstance(record.msg, str):  # e.g. logger.error(exc): its str() is the message
            record.msg, record.args = str(_safe_arg(record.msg)), ()
        elif record.args:
            if isinstance(record.args, dict):
                record.args = {key: _safe_arg(value) for key, value in record.args.items()}
            else:
                record.args = tuple(_safe_arg(value) for value in record.args)
        else:  # pre-formatted, e.g. asyncio's exception handler: "message" then `key: repr(value)` lines
            record.msg = record.msg.split("\n", 1)[0]


FILTER = NoRequestBytes()


def install(*handlers: logging.Handler) -> None:
    """Scrub every record: on the root logger's handlers, on `handlers`, and on the library loggers.

    Idempotent. Call it after logging is configured (the root handlers must exist) and before serving.
    """
    targets: list[logging.Handler | logging.Logger] = [*logging.getLogger().handlers, *handlers]
    targets += [logging.getLogger(name) for name in (*LIBRARY_LOGGERS, *OWN_LOGGERS)]
    for target in targets:
        if FILTER not in target.filters:
            target.addFilter(FILTER)
