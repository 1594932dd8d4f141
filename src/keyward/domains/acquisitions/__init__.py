"""Acquisitions: an organization's hold on an offering, its named keys, its exported spec.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["schemas", "service"]
