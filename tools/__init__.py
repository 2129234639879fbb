"""Tooling around OneTable (the run/test/bench launcher, embedded servers): not part of any Django app."""
