"""Manifests: the typed schema, the located YAML loader, the catalog of models and lock files."""
