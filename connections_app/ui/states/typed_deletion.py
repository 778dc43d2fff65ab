"""The typed-name confirmation that deleting a workspace or an account goes through.

Shared by `WorkspacesState` and `AccountDeletionState`: the dialog's fields and the
handlers that only move them. Whether the name matches is still the core's call (it
compares again when the deletion is asked for); the button's disabled state is a
convenience.
"""

from __future__ import annotations

from typing import Any

import reflex as rx


class TypedDeletionMixin(rx.State, mixin=True):
    delete_open: bool = False
    delete_name: str = ""  # what the person types to confirm (from the core's summary)
    delete_lines: list[str] = []  # what goes, in the core's words
    typed: str = ""
    busy: bool = False
    form_error: str = ""

    def _show_confirmation(self, name: str, lines: list[str]) -> None:
        self.delete_name, self.delete_lines = name, lines
        self.typed = self.form_error = ""
        self.busy = False
        self.delete_open = True

    def _close_confirmation(self) -> str:
        """Close after a deletion; the name that was deleted (for the notice)."""
        name = self.delete_name
        self.delete_open = False
        self.delete_name, self.delete_lines, self.typed = "", [], ""
        return name

    @rx.event
    def delete_open_changed(self, is_open: Any) -> None:
        if is_open is False and not self.busy:
            self.delete_open = False

    @rx.event
    def typed_changed(self, value: Any) -> None:
        self.typed = value[:200] if isinstance(value, str) else ""
        self.form_error = ""
