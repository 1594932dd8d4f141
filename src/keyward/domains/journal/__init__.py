"""The revocation journal: what takes access away, recorded outside the database as well, and
re-applied to a database restored from a snapshot taken before it.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["entries", "files", "service"]
