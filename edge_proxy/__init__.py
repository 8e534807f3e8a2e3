"""The edge proxy: encrypts protected form fields with public keys and forwards requests to the origin.

It holds public keys only; nothing here may import private-key code (see tests/security/test_boundaries.py).
"""

from fields.errors import ProxyError, RequestRefused
from fields.limits import Limits

from .pipeline.app import Proxy, build_app
from .pipeline.buffering import Buffering
from .pipeline.reload import reload_config
from .pipeline.runtime import RUNTIME, Runtime
from .pipeline.settings import ConfigSource, ProxySettings, Timeouts
from .serving import loops
from .serving.admin import build_admin_app
from .serving.guards import ClientLimits
from .serving.listen import Listener, drain, start_site, tls_context, until_signalled

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
