"""The custom resources of sandlot.dev, as pydantic models (v1alpha1)."""
