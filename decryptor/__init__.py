"""The decryptor: the only place where protected values become plaintext again, with keystore-held keys."""

from .audit import AuditLog, Caller, Subject
from .batch import DecryptService
from .config import DecryptorConfig
from .core import Decrypted, Decryptor
from .errors import BadRequest, DecryptError, DecryptorConfigError, DecryptorError, PolicyRefused
from .events import Request, parse_request
from .handler import lambda_handler
from .policy import Policy
from .reasons import Reason

__all__ = [
    "AuditLog",
    "BadRequest",
    "Caller",
    "DecryptError",
    "DecryptService",
    "Decrypted",
    "Decryptor",
    "DecryptorConfig",
    "DecryptorConfigError",
    "DecryptorError",
    "Policy",
    "PolicyRefused",
    "Reason",
    "Request",
    "Subject",
    "lambda_handler",
    "parse_request",
]
