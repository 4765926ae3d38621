"""Measuring models: preprocessing, validation, simplification, accuracy, latency, size and cost."""
