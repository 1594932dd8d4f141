"""The outbox: work written in the same transaction as the change that causes it.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["service"]
