"""Idempotency-Key handling: a retried creation replays the first answer, never a secret.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["service"]
