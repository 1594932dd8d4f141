"""The outbox: work written in the same transaction as the change that causes it."""
