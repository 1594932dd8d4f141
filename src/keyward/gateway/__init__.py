"""The gateway: keyward's data plane, enforcing each operation's OpenAPI security."""
