"""The pipeline: plan (nodes and cache keys), scheduler, backends, steps and the publisher of results."""
