"""Webhook endpoints: where a workspace's notifications are POSTed, signed."""
