"""Storage: SQLAlchemy models, engine (SQLite or PostgreSQL), units of work, change feed."""
