"""The edge proxy: encrypts protected form fields with public keys and forwards requests to the origin.

It holds public keys only; nothing here may import private-key code (see tests/security/test_boundaries.py).
Other packages (reveal, fle) use only the names exported here (`__all__`, tests/edge_proxy/test_exports.py).
"""

from fields.errors import ProxyError, RequestRefused
from fields.limits import Limits

from .origin_client.errors import PoolBusy, UpstreamError, UpstreamTimeout
from .origin_client.pool import OriginPool
from .pipeline.accesslog import raw_path
from .pipeline.app import Proxy, build_app
from .pipeline.body import read_limited
from .pipeline.buffering import Buffering
from .pipeline.forward import ClientWriteTimeout, answer_to, stream_answer
from .pipeline.head import expect
from .pipeline.headers import end_to_end
from .pipeline.reload import reload_config
from .pipeline.runtime import RUNTIME, Runtime
from .pipeline.settings import ConfigSource, ProxySettings, Timeouts
from .serving import loops
from .serving.admin import build_admin_app
from .serving.guards import ClientLimits
from .serving.listen import CannotListen, Listener, drain, start_site, tls_context, until_signalled

__all__ = [
    "RUNTIME",
    "Buffering",
    "CannotListen",
    "ClientLimits",
    "ClientWriteTimeout",
    "ConfigSource",
    "Limits",
    "Listener",
    "OriginPool",
    "PoolBusy",
    "Proxy",
    "ProxyError",
    "ProxySettings",
    "RequestRefused",
    "Runtime",
    "Timeouts",
    "UpstreamError",
    "UpstreamTimeout",
    "answer_to",
    "build_admin_app",
    "build_app",
    "drain",
    "end_to_end",
    "expect",
    "loops",
    "raw_path",
    "read_limited",
    "reload_config",
    "start_site",
    "stream_answer",
    "tls_context",
    "until_signalled",
]
