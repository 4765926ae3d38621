"""Migrating VastModelZOO family folders into manifests (`zoo import vmz`): above `sources` and
`deploy`, since it reads library configs and compares with zoo's own rendering."""
