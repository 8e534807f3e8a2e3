"""The sample origin application: serves the form and stores submissions as received. Never decrypts."""

from .app import build_app

__all__ = ["build_app"]
