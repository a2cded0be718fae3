"""`pai ingest`: reading a plan's files, validating, mapping and loading them in batches."""
