"""Argument types for `fle` flags: each checks a value when it is parsed, so a malformed one is a one-line
usage error naming the flag (argparse adds "argument --origin: ") instead of a traceback later."""

from __future__ import annotations

import argparse

from . import serve


def port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return number


def listen_address(text: str) -> str:
    """HOST:PORT (or [::1]:PORT); the text itself, checked."""
    try:
        serve.parse_listen(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def listen_address_or_off(text: str) -> str:
    """HOST:PORT, or 'off'."""
    return text if text == "off" else listen_address(text)


def http_url(text: str) -> str:
    """An http:// or https:// URL with a host and, if it has one, a port in range; the text itself."""
    from yarl import URL  # here: importing yarl would slow every `fle` command, not only those with a URL

    try:
        url = URL(text)
        url.port  # noqa: B018 - yarl checks the port's range when it is read
    except (ValueError, TypeError) as e:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid URL: {e}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected an http:// or https:// URL, e.g. http://127.0.0.1:8081"
        )
    return text
