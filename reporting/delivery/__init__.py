"""Delivery: signed webhooks to allowed networks and the pull feed (the outbox: services)."""
