"""Members: who works in a workspace, their organizations, roles and permissions.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["schemas", "service"]
