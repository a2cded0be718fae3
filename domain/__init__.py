"""PAI's domain: plain Python entities, value objects, services and repository Protocols.

Nothing here imports a framework; the outer layers translate to and from it.
"""
