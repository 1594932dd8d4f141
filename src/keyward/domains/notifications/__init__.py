"""Notifications: e-mail and signed webhooks about keys, requests and acquisitions.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["events", "reminders", "service"]
