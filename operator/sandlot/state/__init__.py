"""Sandbox state: the inferred model, the store, tenants and keys, idempotency."""
