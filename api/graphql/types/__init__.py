"""GraphQL types, one module per entity; each is built by `from_domain()` and holds its source."""
