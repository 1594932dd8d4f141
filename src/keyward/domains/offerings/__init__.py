"""Offerings: what acquirers acquire, for how long, which operations.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["schemas", "service"]
