"""Provider APIs: importing OpenAPI documents, immutable versions, the key policy.

Other packages use only the modules named in `__all__`; the repository is this package's own.
"""

__all__ = ["schemas", "service"]
