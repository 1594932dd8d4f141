"""The audit log: every change and every refusal, append-only, never a secret.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["export", "refusals", "schemas", "service"]
