"""Idempotency-Key handling: a retried creation replays the first answer, never a secret."""
