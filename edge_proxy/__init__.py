"""The edge proxy: encrypts protected form fields with public keys and forwards requests to the origin.

It holds public keys only; nothing here may import private-key code (see tests/security/test_boundaries.py).
"""

from . import loops
from .admin import build_admin_app
from .app import Proxy, build_app
from .buffering import Buffering
from .errors import ProxyError, RequestRefused
from .guards import ClientLimits
from .limits import Limits
from .reload import reload_config
from .runtime import RUNTIME, Runtime
from .serving import Listener, drain, start_site, tls_context, until_signalled
from .settings import ConfigSource, ProxySettings, Timeouts

__all__ = [
    "RUNTIME",
    "Buffering",
    "ClientLimits",
    "ConfigSource",
    "Limits",
    "Listener",
    "Proxy",
    "ProxyError",
    "ProxySettings",
    "RequestRefused",
    "Runtime",
    "Timeouts",
    "build_admin_app",
    "build_app",
    "drain",
    "loops",
    "reload_config",
    "start_site",
    "tls_context",
    "until_signalled",
]
