"""The worker: delivers what the outbox holds (connector exports, later notifications)."""
