"""The logging setup every entry point uses: stderr lines, each record scrubbed and escaped (scrub.py).

`fle` calls `configure` once, before any subcommand runs (`fle proxy`, `fle reveal`, `fle origin`,
`fle decrypt`, `fle demo`, ...), so every command logs through the same filter; `stream_handler` makes the
extra handlers a command adds (the proxy's access log), filtered the same way. Workers forked later keep
both.
"""

from __future__ import annotations

import logging
from typing import TextIO

from .scrub import FILTER, install

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# libraries whose INFO lines are noise for a user ("Found credentials in environment variables.")
QUIET_BELOW_DEBUG = ("botocore", "boto3", "urllib3")


def configure(level: str | int) -> None:
    """The root logger at `level` on stderr (unless a handler is already there), every record scrubbed."""
    logging.basicConfig(level=level, format=FORMAT)  # a no-op if the root already has a handler
    logging.getLogger().setLevel(level)
    numeric = logging.getLevelName(level) if isinstance(level, str) else level
    quiet = logging.DEBUG if numeric == logging.DEBUG else max(logging.WARNING, numeric)
    for name in QUIET_BELOW_DEBUG:
        logging.getLogger(name).setLevel(quiet)
    install()


def stream_handler(
    stream: TextIO | None = None, path: str | None = None, fmt: str = FORMAT
) -> logging.Handler:
    """A handler writing to `stream` (or appending to the file at `path`) with the scrubbing filter on it."""
    handler = logging.FileHandler(path) if path is not None else logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(fmt))
    handler.addFilter(FILTER)
    return handler
