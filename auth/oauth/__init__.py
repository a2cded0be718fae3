"""The SMART App Launch 2.2 authorization server, on authlib's server classes.

`server` configures authlib for SMART (PKCE S256 only, exact redirect URIs,
`aud`, rotated refresh tokens, `private_key_jwt`); `service` runs each
request in one unit of work; `api.oauth` is the thin HTTP adapter.
"""
