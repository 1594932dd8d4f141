"""Organizations: the provider and acquirer sides resources belong to.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["schemas", "service"]
