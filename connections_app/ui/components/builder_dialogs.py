"""The builder's workflow and node dialogs: new, rename, delete, remove node, add node,
import (F15, F29)."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.builder_parts import form_error, param_input
from connections_app.ui.components.form_parts import (
    confirm_dialog,
    dialog,
    dialog_actions,
    dialog_description,
    field_block,
)
from connections_app.ui.states.builder import BuilderState as B
from connections_app.ui.states.node_panel import NodePanelState as P


def _name_dialog(
    title: str,
    open_var: rx.Var,
    on_open: rx.EventHandler,
    on_submit,
    value: rx.Var | str,
    submit: str,
    field_id: str,
) -> rx.Component:  # type: ignore[no-untyped-def]
    return dialog(
        title,
        rx.form(
            rx.vstack(
                field_block(
                    "Name",
                    rx.input(
                        name="name",
                        id=field_id,
                        default_value=value,
                        max_length=120,
                        required=True,
                        auto_focus=True,
                    ),
                    html_for=field_id,
                ),
                form_error(B.form_error),
                dialog_actions(rx.button(submit, type="submit", id=f"{field_id}-submit")),
                spacing="4",
            ),
            on_submit=on_submit,
            reset_on_submit=False,
        ),
        open=open_var,
        on_open_change=on_open,
        max_width="440px",
    )


def _add_node_dialog() -> rx.Component:
    return dialog(
        "Add node",
        dialog_description("Choose the app action. You pick its connection next."),
        rx.vstack(
            field_block(
                "Action",
                rx.select.root(
                    rx.select.trigger(placeholder="Choose an app action", id="node-action"),
                    rx.select.content(
                        rx.foreach(
                            B.action_choices,
                            lambda c: rx.select.item(c["label"], value=c["value"]),
                        )
                    ),
                    value=B.add_choice,
                    on_change=B.choose_action,
                ),
                html_for="node-action",
            ),
            rx.form(
                rx.vstack(
                    field_block(
                        "Label (optional)",
                        rx.input(name="cx_node_label", id="node-label", max_length=120),
                        html_for="node-label",
                    ),
                    rx.foreach(B.add_fields, lambda f: param_input(f, "add-param-")),
                    form_error(B.form_error),
                    dialog_actions(
                        rx.button(
                            "Add node",
                            type="submit",
                            disabled=B.add_choice == "",
                            id="add-node-submit",
                        )
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=[B.add_node, P.open_added],
                reset_on_submit=False,
                key=B.add_form_key,
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        open=B.add_open,
        on_open_change=B.add_open_changed,
        max_width="520px",
    )


def _import_dialog() -> rx.Component:
    return dialog(
        "Import a workflow",
        dialog_description(
            "Paste a workflow exported from another workspace. Nodes are bound to this "
            "workspace's connections with the same stable key; the others are listed."
        ),
        rx.form(
            rx.vstack(
                rx.text_area(
                    name="document",
                    id="import-document",
                    rows="10",
                    placeholder='{"format": "connections.workflow", …}',
                    width="100%",
                    aria_label="Exported workflow JSON",
                ),
                form_error(B.form_error),
                rx.cond(
                    B.import_report.length() > 0,
                    rx.vstack(
                        rx.foreach(
                            B.import_report,
                            lambda r: rx.hstack(
                                rx.badge(
                                    rx.cond(r["bound"], "bound", "unbound"),
                                    color_scheme=rx.cond(r["bound"], "green", "amber"),
                                ),
                                rx.text(r["node"], size="2", weight="medium"),
                                rx.text(r["detail"], size="2", color_scheme="gray"),
                                spacing="2",
                                class_name="cx-import-line",
                            ),
                        ),
                        spacing="1",
                        id="import-report",
                    ),
                ),
                rx.cond(
                    B.import_report.length() > 0,
                    rx.hstack(
                        rx.dialog.close(rx.button("Done", type="button", id="import-done")),
                        justify="end",
                        width="100%",
                    ),
                    dialog_actions(rx.button("Import", type="submit", id="import-submit")),
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=B.import_document,
            reset_on_submit=False,
            width="100%",
        ),
        open=B.import_open,
        on_open_change=B.import_open_changed,
        max_width="600px",
    )


def _red_confirm(
    words: tuple[rx.Var | str, str, str],
    body: str,
    on_confirm: rx.EventHandler,
    open_var: rx.Var,
    on_open: rx.EventHandler,
) -> rx.Component:
    """Delete workflow / Remove node: (title, button label, button id), one red action."""
    title, label, button_id = words
    confirm = rx.button(label, color_scheme="red", on_click=on_confirm, id=button_id)
    return confirm_dialog(
        title, body, confirm, open=open_var, on_open_change=on_open, max_width="440px"
    )


def workflow_dialogs() -> rx.Component:
    """Every dialog of the workflow list and the nodes (one place, mounted once)."""
    return rx.fragment(
        _name_dialog(
            "New workflow",
            B.create_open,
            B.create_open_changed,
            B.create,
            "",
            "Create",
            "workflow-name-input",
        ),
        _name_dialog(
            "Rename workflow",
            B.rename_open,
            B.rename_open_changed,
            B.rename,
            B.selected_name,
            "Rename",
            "workflow-rename-input",
        ),
        _red_confirm(
            ("Delete “" + B.selected_name + "”?", "Delete workflow", "delete-workflow-confirm"),
            "Its nodes go with it. Connections stay; run history stays.",
            B.confirm_delete,
            B.delete_open,
            B.delete_open_changed,
        ),
        _red_confirm(
            ("Remove “" + B.remove_label + "”?", "Remove node", "remove-node-confirm"),
            "The node is removed from this workflow. Its connection stays.",
            B.confirm_remove,
            B.remove_open,
            B.remove_open_changed,
        ),
        _add_node_dialog(),
        _import_dialog(),
    )
