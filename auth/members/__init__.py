"""Member authentication: identity matching, emailed codes, the plan's own identity provider."""
