"""The log filter's rules, record by record (the whole proxy is covered by test_logs_malformed.py)."""

from __future__ import annotations

import io
import logging

from aiohttp.http_exceptions import BadHttpMessage

from logsafe import NoRequestBytes, escape

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


def test_every_record_is_one_line_its_control_characters_escaped() -> None:
    def emit(log: logging.Logger) -> None:
        log.info("refused: %s", "FLEDemo\n2026-01-01 INFO fle: forged\r\x1b[2J\u202eevil\u2028x")

    out = formatted("reveal.test", emit)  # ours: the argument is kept, escaped
    assert out.count("\n") == 1 and "forged" in out
    assert "FLEDemo\\n2026-01-01 INFO fle: forged\\r\\x1b[2J\\u202eevil\\u2028x" in out
    lib = formatted("test.lib.y", lambda log: log.warning("line one\nERROR fle: forged"))
    assert lib == "WARNING test.lib.y: line one\n"  # a library's own text: its first line only


def test_an_exception_keeps_its_frames_on_separate_lines_and_nothing_else() -> None:
    out = formatted("fle.test", raise_and_log)
    assert out.startswith("ERROR fle.test: Error handling request from 127.0.0.1\nTraceback")
    assert SECRET not in out and "\x1b" not in out


def test_escape_leaves_printable_text_alone() -> None:
    assert escape("/processor/charges José") == "/processor/charges José"
    assert escape("a\tb\x00c\x7f\x85\U000e0001") == "a\\tb\\x00c\\x7f\\x85\\U000e0001"
