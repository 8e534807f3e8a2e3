"""Reveal: the outbound proxy that decrypts allowed fields on their way to an allow-listed upstream.

The origin sends its request, ciphertext in it, to a route of this proxy; the proxy checks the caller's
bearer token, the path and the method, decrypts the fields the route names (only messages under the
route's keys), and forwards the request over verified TLS to the route's upstream. See docs/reveal.md.
"""

from .errors import RevealRefused, RoutesError
from .routes import Caller, RevealConfig, Route, load_routes

__all__ = ["Caller", "RevealConfig", "RevealRefused", "Route", "RoutesError", "load_routes"]
