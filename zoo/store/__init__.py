"""The artifact store: content-addressed blobs, the action cache, locks, and fetching into it."""
