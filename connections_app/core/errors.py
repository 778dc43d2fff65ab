"""The small set of domain errors the UI, HTTP routes and CLI map to messages.

Messages are written for people: they are shown as they are, so they must never
contain a secret, a stack trace or another tenant's data.
"""


class DomainError(Exception):
    """Base class: `str(err)` is a message fit to show to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(DomainError):
    """Absent, or not visible to the actor: the two are indistinguishable on purpose."""


class Forbidden(DomainError):
    """Visible to the actor, but the role or sharing level does not allow the operation."""


class Invalid(DomainError):
    """Bad input: `field` names the form field at fault when there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Conflict(DomainError):
    """The change clashes with existing data (duplicate label, stable key, email).

    `field` names the form field that clashes, so forms mark it without reading the
    message (None when the clash is not one field's, e.g. a concurrent change)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Unauthenticated(DomainError):
    """No valid session: the UI sends the person to the sign-in page."""
