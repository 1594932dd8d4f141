"""The management REST API (FastAPI): authentication, routes, error handling."""

from keyward.api.app import create_app

__all__ = ["create_app"]
