"""The decryptor: the only place where protected values become plaintext again, with keystore-held keys."""

from .core import DecryptError, Decryptor
from .handler import lambda_handler

__all__ = ["DecryptError", "Decryptor", "lambda_handler"]
