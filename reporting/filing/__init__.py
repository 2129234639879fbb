"""Filing: the one table, its form, the Excel template, idempotent requests."""
