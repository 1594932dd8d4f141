"""Pure domain logic: no framework, no I/O. Everything here is tested without a database."""
