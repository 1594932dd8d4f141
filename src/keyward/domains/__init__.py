"""The management plane, one package per domain: schemas, repository (all SQL), service (rules)."""
