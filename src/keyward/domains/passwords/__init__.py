"""Password links: invitations and password resets by e-mail.

Other packages use only the modules named in `__all__`.
"""

__all__ = ["schemas", "service"]
