"""Deployment files for the VastAI toolchain: the deploy context, one module per dialect, rendering."""
