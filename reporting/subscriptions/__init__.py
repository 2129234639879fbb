"""Subscriptions and data requests: the review's overlaps and warnings."""
