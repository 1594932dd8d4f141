"""Offerings: what acquirers acquire, for how long, which operations."""
