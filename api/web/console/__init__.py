"""The staff console at /console: server-rendered pages over the staff desk."""
