"""Provider APIs: importing OpenAPI documents, immutable versions, the key policy."""
