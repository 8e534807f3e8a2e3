"""What can go wrong on the way to the origin, as one small tree (forward.py maps each leaf to an answer).

    UpstreamError                         the exchange with the origin failed
    ├── ConnectFailed                     no connection: refused, name not resolved, TLS handshake/certificate
    ├── PoolBusy                          every pooled connection in use for the whole pool wait timeout
    ├── UpstreamTimeout (TimeoutError)    no connection within origin_connect, or origin_read of silence
    └── Broken                            the origin closed, reset, or sent something that is not HTTP/1.1
        └── BodyFailed                    our own streamed request body raised; its error is the __cause__

Messages name what happened, never a header or body byte of the exchange.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """The exchange with the origin failed."""


class ConnectFailed(UpstreamError):
    """No connection to the origin could be opened (refused, unresolvable, TLS refused or unverified)."""


class PoolBusy(UpstreamError):
    """Every connection of the pool stayed in use for the wait timeout: nothing was sent."""


class UpstreamTimeout(UpstreamError, TimeoutError):
    """The origin did not connect within origin_connect, or stayed silent for origin_read."""


class Broken(UpstreamError):
    """The origin closed or reset the connection, or its answer is not well-formed HTTP/1.1."""


class BodyFailed(Broken):
    """The request body's iterator raised while it was being sent; the connection was cut."""
