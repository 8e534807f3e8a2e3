"""The edge proxy: encrypts protected form fields with public keys and forwards requests to the origin.

It holds public keys only; nothing here may import private-key code (see tests/test_boundaries.py).
"""

from .app import ProxySettings, build_app
from .errors import ProxyError, RequestRefused
from .limits import Limits

__all__ = ["Limits", "ProxyError", "ProxySettings", "RequestRefused", "build_app"]
