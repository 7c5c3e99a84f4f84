"""Small shared utilities: the lowest layer, imported by both halves and importing neither."""
