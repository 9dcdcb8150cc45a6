"""Data files shipped with the package: the article JSON Schema."""
