"""Connectors: an acquisition's spec, re-exported automatically to a webhook or a storage URL.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["schemas", "service", "updates"]
