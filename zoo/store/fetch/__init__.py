"""Fetching weights: HTTP(S) and local files with resume and retries, mirrors, safe unpacking."""
