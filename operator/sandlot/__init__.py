"""Sandlot: spec-driven API mocks and stateful sandboxes that integrators can trust."""

__version__ = "0.1.0"
