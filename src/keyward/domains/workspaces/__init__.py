"""Workspaces: tenants, their first admin, and who a caller is.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["policies", "schemas", "service"]
