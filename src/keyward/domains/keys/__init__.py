"""API keys: account and acquisition keys, their lifecycle and the key requests approvers decide.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["requests", "schemas", "service", "unused"]
