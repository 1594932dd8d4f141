"""Key usage: how many responses of each status class a key got, over time.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["schemas", "service"]
