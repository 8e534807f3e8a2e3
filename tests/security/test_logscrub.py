"""The log filter's rules, record by record (the whole proxy is covered by test_logs_malformed.py)."""

from __future__ import annotations

import io
import logging

from aiohttp.http_exceptions import BadHttpMessage

from edge_proxy.logscrub import NoRequestBytes

SECRET = "404-555-0150"


def formatted(name: str, emit) -> str:  # type: ignore[no-untyped-def]
    """What a handler with the filter writes for the records `emit(logger)` logs on logger `name`."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(NoRequestBytes())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def raise_and_log(logger: logging.Logger) -> None:
    try:
        try:
            raise ValueError(f"inner {SECRET}")
        except ValueError as inner:
            raise BadHttpMessage(f"Invalid header value char:\n\n  b'X-Phone: {SECRET}'\n  ^") from inner
    except BadHttpMessage:
        logger.exception("Error handling request from %s", "127.0.0.1")


def test_exceptions_keep_types_status_and_frames_never_messages() -> None:
    out = formatted("test.lib.server", raise_and_log)
    assert SECRET not in out
    assert "Error handling request from 127.0.0.1" in out  # an IP address argument is kept
    assert "aiohttp.http_exceptions.BadHttpMessage: HTTP 400" in out
    assert "builtins.ValueError" in out and "raise_and_log" in out  # the cause and the frames


def test_library_arguments_become_type_names_numbers_stay() -> None:
    out = formatted(
        "test.lib.x", lambda log: log.debug("got %r after %d ms (%s)", SECRET.encode(), 12, SECRET)
    )
    assert SECRET not in out and "got '<bytes>' after 12 ms (<str>)" in out


def test_preformatted_library_messages_keep_their_first_line_only() -> None:
    def emit(log: logging.Logger) -> None:
        log.error(f"Task exception was never retrieved\nfuture: <Task exception=BadHttpMessage('{SECRET}')>")
        log.error(BadHttpMessage(SECRET))

    out = formatted("asyncio", emit)
    assert SECRET not in out and "Task exception was never retrieved" in out and "BadHttpMessage" in out


def test_our_own_records_keep_their_arguments() -> None:
    out = formatted("edge_proxy.test", lambda log: log.info("config reloaded: now using FLE config %s", "C1"))
    assert "now using FLE config C1" in out
