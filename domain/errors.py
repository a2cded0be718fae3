"""Errors the domain raises; outer layers translate each into their own wording."""


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class NotFound(DomainError):
    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} was not found")
        self.kind = kind
        self.key = key


class InvalidRecord(DomainError):
    """A source record that cannot become a domain entity.

    `path` is the FHIRPath-like location of the defect (`item[0].productOrService`).
    """

    def __init__(self, reason: str, path: str | None = None) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.reason = reason
        self.path = path


class NoMember(InvalidRecord):
    """Member data whose member could not be found from the record alone."""


class Conflict(DomainError):
    """The change would break a uniqueness rule (one email, one member number)."""
