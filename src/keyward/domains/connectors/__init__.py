"""Connectors: an acquisition's spec, re-exported automatically to a webhook or a storage URL."""
