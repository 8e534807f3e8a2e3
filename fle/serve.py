"""What every serving command shares: parse HOST:PORT, name the flag when a listener cannot open, run
until SIGINT/SIGTERM. The listener itself is opened by edge_proxy.start_site (there is one), which
also has until_signalled."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable, Coroutine, Iterator
from typing import Any


class ListenError(Exception):
    """A listener could not be opened (port in use, no permission, no such address); one line for the user."""


@contextlib.contextmanager
def listening(host: str, port: int, flag: str) -> Iterator[None]:
    """Turn the OSError of opening a listener on host:port into one line naming the flag that moves it."""
    try:
        yield
    except OSError as e:
        raise listen_error(host, port, flag, e) from e


def listen_error(host: str, port: int, flag: str, error: OSError) -> ListenError:
    """The one line for a listener on host:port that could not open, naming the flag that moves it."""
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    reason = error.strerror or str(error)
    if error.errno == errno.EADDRINUSE:
        reason = "the address is already in use"
    return ListenError(f"cannot listen on {shown}: {reason}; choose another with {flag}")


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[::1]:PORT`) -> (host, port); ValueError with a hint otherwise."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]") or "127.0.0.1", int(port)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> int:
    import asyncio  # here: parse_listen checks the --listen flags, and asyncio would slow every `fle` command

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0
