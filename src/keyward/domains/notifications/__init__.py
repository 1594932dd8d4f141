"""Notifications: e-mail and signed webhooks about keys, requests and acquisitions."""
