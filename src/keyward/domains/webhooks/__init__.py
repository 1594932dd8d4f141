"""Webhook endpoints: where a workspace's notifications are POSTed, signed.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["schemas", "service"]
