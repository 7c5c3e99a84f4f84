"""OpenAPI documents: loading and bundling, JSON Schema validators."""
