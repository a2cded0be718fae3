"""The HTTP side of the authorization server: routes, CORS, the session cookie, the pages."""
