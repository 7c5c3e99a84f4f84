"""Sandlot test suite (a package, so that `tests.kubeemu.fixtures` can be a pytest plugin)."""
