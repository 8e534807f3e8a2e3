"""The one interface every private-key backend implements."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from .wrapping import Wrapping


class KeyBackend(ABC):
    """Holds one RSA private key somewhere and unwraps data keys with it; blocking calls, thread-safe."""

    @abstractmethod
    def unwrap(self, encrypted_key: bytes, wrapping: Wrapping) -> bytes:
        """The data key inside `encrypted_key`; UnwrapError when it cannot be recovered."""

    async def aunwrap(self, encrypted_key: bytes, wrapping: Wrapping) -> bytes:
        """`unwrap` from asyncio: the blocking call runs in a worker thread, off the event loop."""
        return await asyncio.to_thread(self.unwrap, encrypted_key, wrapping)

    @abstractmethod
    def public_key(self) -> RSAPublicKey:
        """The public half of the key, for self-tests and exporting a CloudFront PublicKeyConfig."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions and connections."""
