"""Portal sessions: signing members in and out, and the throttling of sign-in attempts.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["schemas", "service"]
