"""The Builder: workflows on the left; the selected workflow's nodes, its newest run,
and the node panel with the connection picker (F15–F17, F22, F28, F29)."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.add_dialog import add_dialog
from connections_app.ui.components.badges import status_badge
from connections_app.ui.components.connection_table import app_icon
from connections_app.ui.components.form_parts import confirm_dialog, dialog_actions, field_block
from connections_app.ui.components.layout import app_shell, empty_state, page_header
from connections_app.ui.components.run_parts import run_badge, step_line
from connections_app.ui.states.builder import BuilderState as B
from connections_app.ui.states.node_panel import NodePanelState as P


def _error(text: rx.Var) -> rx.Component:
    return rx.cond(
        text != "",
        rx.callout(text, icon="triangle-alert", color_scheme="red", size="1", role="alert"),
    )


def _workflow_item(wf: rx.Var) -> rx.Component:
    selected = wf["id"] == B.selected_id
    return rx.el.button(
        rx.hstack(
            rx.icon("workflow", size=16),
            rx.text(wf["name"], size="2", weight=rx.cond(selected, "bold", "regular"), trim="both"),
            rx.spacer(),
            rx.badge(wf["nodes"], variant="soft", color_scheme="gray", radius="full"),
            width="100%",
            align="center",
        ),
        type="button",
        on_click=B.select(wf["id"]),
        aria_current=rx.cond(selected, "true", "false"),
        class_name="cx-workflow-item",
        style={
            "width": "100%",
            "padding": "8px 10px",
            "border_radius": "8px",
            "text_align": "left",
            "cursor": "pointer",
            "background": rx.cond(selected, "var(--accent-a4)", "transparent"),
            "_hover": {"background": "var(--accent-a3)"},
        },
    )


def _workflow_list() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text("Workflows", size="2", weight="bold", color_scheme="gray"),
            rx.spacer(),
            rx.cond(
                B.can_edit,
                rx.icon_button(
                    rx.icon("plus", size=16),
                    size="1",
                    variant="soft",
                    on_click=B.open_create,
                    aria_label="New workflow",
                    id="new-workflow",
                ),
            ),
            width="100%",
            align="center",
        ),
        rx.foreach(B.workflows, _workflow_item),
        rx.cond(
            B.can_edit,
            rx.button(
                rx.icon("upload", size=14),
                "Import",
                variant="ghost",
                size="1",
                on_click=B.open_import,
                id="import-workflow",
            ),
        ),
        width="240px",
        min_width="240px",
        spacing="1",
        padding="12px",
        border="1px solid var(--gray-a5)",
        border_radius="12px",
    )


def _connection_chip(node: rx.Var) -> rx.Component:
    return rx.match(
        node["conn_state"],
        (
            "none",
            rx.badge(rx.icon("plug-zap", size=12), "No connection", color_scheme="amber"),
        ),
        (
            "missing",
            rx.badge(
                rx.icon("unplug", size=12),
                "Connection missing",
                color_scheme="red",
                class_name="cx-missing",
            ),
        ),
        rx.hstack(
            rx.badge(rx.icon("key-round", size=12), node["connection_label"], variant="outline"),
            status_badge(node["conn_state"]),
            spacing="1",
        ),
    )


def _node_card(node: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.badge(node["position"], radius="full", variant="solid", size="2"),
        app_icon(node["icon"], node["app_name"], "32px"),
        rx.vstack(
            rx.text(node["label"], size="3", weight="medium"),
            rx.text(node["app_name"], " · ", node["action_name"], size="1", color_scheme="gray"),
            rx.cond(node["summary"] != "", rx.text(node["summary"], size="1", color_scheme="gray")),
            spacing="0",
            align="start",
            flex="1 1 180px",  # keeps the first line; the chip and buttons wrap instead
            min_width="0",
        ),
        rx.spacer(),
        _connection_chip(node),
        rx.button(
            "Open",
            variant="soft",
            size="1",
            on_click=P.open_panel(node["id"]),
            class_name="cx-open-node",
            aria_label="Open node " + node["label"],
        ),
        rx.cond(
            B.can_edit,
            rx.hstack(
                rx.icon_button(
                    rx.icon("arrow-up", size=14),
                    size="1",
                    variant="ghost",
                    color_scheme="gray",
                    on_click=B.move(node["id"], "up"),
                    aria_label="Move up",
                ),
                rx.icon_button(
                    rx.icon("arrow-down", size=14),
                    size="1",
                    variant="ghost",
                    color_scheme="gray",
                    on_click=B.move(node["id"], "down"),
                    aria_label="Move down",
                ),
                rx.icon_button(
                    rx.icon("trash-2", size=14),
                    size="1",
                    variant="ghost",
                    color_scheme="red",
                    on_click=B.ask_remove(node["id"]),
                    aria_label="Remove node " + node["label"],
                ),
                spacing="1",
            ),
        ),
        width="100%",
        align="center",
        spacing="3",
        wrap="wrap",  # narrow screens: the chip and buttons go to a second line
        padding="12px 14px",
        border="1px solid var(--gray-a5)",
        border_radius="10px",
        class_name="cx-node",
        data_node=node["id"],
    )


def _last_run() -> rx.Component:
    return rx.cond(
        B.last_run.contains("id"),
        rx.vstack(
            rx.hstack(
                rx.text("Latest run", size="2", weight="bold"),
                run_badge(B.last_run["status"]),
                rx.cond(
                    B.last_run["mode"] == "test",
                    rx.badge("Test mode", color_scheme="purple", variant="soft"),
                ),
                rx.text(
                    B.last_run["when"], " · ", B.last_run["progress"], size="1", color_scheme="gray"
                ),
                rx.spacer(),
                rx.cond(
                    (B.last_run["status"] == "waiting") & B.can_edit,
                    rx.button(
                        "Try again now",
                        size="1",
                        variant="soft",
                        on_click=B.retry(B.last_run["id"]),
                    ),
                ),
                rx.link("All runs", href="/runs?wf=" + B.selected_id, size="2"),
                width="100%",
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.cond(
                B.last_run["message"] != "",
                rx.text(B.last_run["message"], size="2", color_scheme="gray"),
            ),
            rx.foreach(B.last_steps, step_line),
            width="100%",
            spacing="2",
            padding="14px",
            border="1px solid var(--gray-a5)",
            border_radius="10px",
            id="latest-run",
            data_status=B.last_run["status"],
        ),
    )


def _workflow_detail() -> rx.Component:
    running = B.busy == "run"
    return rx.vstack(
        rx.hstack(
            rx.heading(B.selected_name, size="5", id="workflow-name"),
            rx.spacer(),
            rx.cond(
                B.can_edit,
                rx.hstack(
                    rx.button(
                        rx.cond(running, rx.spinner(size="1"), rx.icon("play", size=14)),
                        "Run",
                        on_click=B.run("live"),
                        disabled=running | (B.nodes.length() == 0),
                        id="run-live",
                    ),
                    rx.button(
                        rx.icon("flask-conical", size=14),
                        "Run in test mode",
                        variant="soft",
                        color_scheme="purple",
                        on_click=B.run("test"),
                        disabled=running | (B.nodes.length() == 0),
                        id="run-test",
                    ),
                    rx.menu.root(
                        rx.menu.trigger(
                            rx.icon_button(
                                rx.icon("ellipsis", size=16),
                                variant="soft",
                                color_scheme="gray",
                                aria_label="More workflow actions",
                                id="workflow-menu",
                            )
                        ),
                        rx.menu.content(
                            rx.menu.item("Rename", on_click=B.open_rename),
                            rx.menu.item("Export JSON", on_click=B.export, id="export-workflow"),
                            rx.menu.separator(),
                            rx.menu.item("Delete", color="red", on_click=B.open_delete),
                        ),
                    ),
                    spacing="2",
                ),
                rx.button(
                    rx.icon("download", size=14), "Export JSON", variant="soft", on_click=B.export
                ),
            ),
            width="100%",
            align="center",
            wrap="wrap",
            spacing="2",
        ),
        rx.cond(
            B.nodes.length() > 0,
            rx.vstack(rx.foreach(B.nodes, _node_card), width="100%", spacing="2", id="node-list"),
            rx.callout(
                "No nodes yet. A node is one app action; it authenticates with a connection "
                "you pick in its panel.",
                icon="info",
                width="100%",
            ),
        ),
        rx.cond(
            B.can_edit,
            rx.button(
                rx.icon("plus", size=14),
                "Add node",
                variant="outline",
                on_click=B.open_add,
                id="add-node",
            ),
        ),
        _last_run(),
        flex="1 1 320px",
        min_width="0",  # may shrink below its content: long rows wrap, the page does not scroll
        spacing="3",
        width="100%",
    )


def _name_dialog(
    title: str,
    open_var: rx.Var,
    on_open: rx.EventHandler,
    on_submit,
    value: rx.Var | str,
    submit: str,
    field_id: str,
) -> rx.Component:  # type: ignore[no-untyped-def]
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(title),
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
                    _error(B.form_error),
                    dialog_actions(rx.button(submit, type="submit", id=f"{field_id}-submit")),
                    spacing="4",
                ),
                on_submit=on_submit,
                reset_on_submit=False,
            ),
            max_width="440px",
        ),
        open=open_var,
        on_open_change=on_open,
    )


def _param_input(field: rx.Var, prefix: str) -> rx.Component:
    field_id = prefix + field["name"]
    return field_block(
        field["label"],
        rx.input(
            name=field["name"],
            id=field_id,
            default_value=field["value"],
            placeholder=field["placeholder"],
            required=field["required"] == "1",
            max_length=2000,
            width="100%",
        ),
        html_for=field_id,
    )


def _add_node_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Add node"),
            rx.dialog.description(
                "Choose the app action. You pick its connection next.",
                size="2",
                color_scheme="gray",
                margin_bottom="12px",
            ),
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
                        rx.foreach(B.add_fields, lambda f: _param_input(f, "add-param-")),
                        _error(B.form_error),
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
                    on_submit=B.add_node,
                    reset_on_submit=False,
                    key=B.add_form_key,
                    width="100%",
                ),
                spacing="3",
                width="100%",
            ),
            max_width="520px",
        ),
        open=B.add_open,
        on_open_change=B.add_open_changed,
    )


def _import_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Import a workflow"),
            rx.dialog.description(
                "Paste a workflow exported from another workspace. Nodes are bound to this "
                "workspace's connections with the same stable key; the others are listed.",
                size="2",
                color_scheme="gray",
                margin_bottom="12px",
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
                    _error(B.form_error),
                    rx.cond(
                        B.import_report.length() > 0,
                        rx.vstack(
                            rx.foreach(
                                B.import_report,
                                lambda r: rx.hstack(
                                    rx.badge(
                                        r["outcome"],
                                        color_scheme=rx.cond(
                                            r["outcome"] == "bound", "green", "amber"
                                        ),
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
            max_width="600px",
        ),
        open=B.import_open,
        on_open_change=B.import_open_changed,
    )


def _option(option: rx.Var) -> rx.Component:
    chosen = option["selected"] == "1"
    return rx.el.button(
        rx.hstack(
            rx.icon(rx.cond(chosen, "circle-check", "circle"), size=16),
            rx.vstack(
                rx.text(option["label"], size="2", weight="medium"),
                rx.text(
                    option["tail"],
                    " ",
                    option["who"],
                    " · used ",
                    option["used"],
                    size="1",
                    color_scheme="gray",
                ),
                spacing="0",
                align="start",
            ),
            rx.spacer(),
            status_badge(option["status"]),
            width="100%",
            align="center",
            spacing="2",
        ),
        type="button",
        on_click=P.pick(option["id"]),
        disabled=~P.can_edit,
        class_name="cx-picker-option",
        data_id=option["id"],
        aria_pressed=rx.cond(chosen, "true", "false"),
        style={
            "width": "100%",
            "padding": "8px 10px",
            "text_align": "left",
            "border": "1px solid",
            "border_color": rx.cond(chosen, "var(--accent-8)", "var(--gray-a5)"),
            "border_radius": "8px",
            "background": rx.cond(chosen, "var(--accent-a3)", "transparent"),
            "cursor": "pointer",
        },
    )


def _auth_section() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text("Authentication", size="3", weight="bold"),
            rx.spacer(),
            rx.cond(
                P.can_connect & P.can_edit,
                rx.button(
                    rx.icon("plus", size=14),
                    "Connect New Account",
                    size="1",
                    on_click=P.connect_new,
                    id="connect-new-account",
                ),
            ),
            width="100%",
            align="center",
        ),
        rx.match(
            P.conn_state,
            (
                "missing",
                rx.callout(
                    "Connection missing: the connection this node used was deleted. "
                    "Pick another below.",
                    icon="unplug",
                    color_scheme="red",
                    size="1",
                ),
            ),
            ("none", rx.text("No connection picked yet.", size="2", color_scheme="gray")),
            rx.hstack(
                rx.text("Uses ", rx.text.strong(P.connection_label), size="2"),
                status_badge(P.conn_state),
                rx.spacer(),
                rx.cond(
                    P.can_edit,
                    rx.hstack(
                        rx.button(
                            "Switch in all nodes…",
                            size="1",
                            variant="soft",
                            on_click=P.open_switch,
                            id="switch-all",
                        ),
                        rx.button(
                            "Clear",
                            size="1",
                            variant="ghost",
                            color_scheme="gray",
                            on_click=P.clear_connection,
                        ),
                        spacing="2",
                    ),
                ),
                width="100%",
                align="center",
            ),
        ),
        rx.input(
            rx.input.slot(rx.icon("search", size=14)),
            placeholder="Search " + P.app_name + " connections",
            value=P.search,
            on_change=P.search_changed.debounce(300),
            id="picker-search",
            max_length=100,
            width="100%",
            aria_label="Search connections",
        ),
        rx.cond(
            P.options.length() > 0,
            rx.vstack(rx.foreach(P.options, _option), width="100%", spacing="1", id="picker"),
            rx.text(
                rx.cond(
                    P.search != "",
                    "No connection matches.",
                    "No usable " + P.app_name + " connection in this workspace yet.",
                ),
                size="2",
                color_scheme="gray",
                id="picker-empty",
            ),
        ),
        rx.cond(
            P.pages > 1,
            rx.hstack(
                rx.text(
                    "Page ",
                    P.page,
                    " · ",
                    P.total_label,
                    " connections",
                    size="1",
                    color_scheme="gray",
                ),
                rx.spacer(),
                rx.button(
                    "Previous",
                    size="1",
                    variant="soft",
                    on_click=P.previous_page,
                    disabled=P.page <= 1,
                ),
                rx.button(
                    "Next", size="1", variant="soft", on_click=P.next_page, disabled=~P.has_next
                ),
                width="100%",
                align="center",
            ),
        ),
        _error(P.error),
        width="100%",
        spacing="2",
        id="node-auth",
    )


def _switch_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Switch “" + P.connection_label + "” everywhere"),
            rx.dialog.description(
                "Every node of this workspace that uses it will use the connection you pick. "
                "This is one audited change.",
                size="2",
                color_scheme="gray",
                margin_bottom="12px",
            ),
            rx.input(
                placeholder="Search",
                value=P.switch_search,
                on_change=P.switch_search_changed.debounce(300),
                max_length=100,
                aria_label="Search connections to switch to",
            ),
            rx.vstack(
                rx.foreach(
                    P.switch_options,
                    lambda o: rx.hstack(
                        rx.text(o["label"], size="2"),
                        status_badge(o["status"]),
                        rx.spacer(),
                        rx.button(
                            "Switch to this",
                            size="1",
                            on_click=P.switch_all(o["id"]),
                            class_name="cx-switch-to",
                            data_label=o["label"],
                        ),
                        width="100%",
                        align="center",
                    ),
                ),
                rx.cond(
                    P.switch_options.length() == 0,
                    rx.text("No other connection of this app to switch to.", size="2"),
                ),
                width="100%",
                spacing="2",
                margin_y="12px",
            ),
            dialog_actions(),
            max_width="480px",
        ),
        open=P.switch_open,
        on_open_change=P.switch_open_changed,
    )


def _node_panel() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(P.label),
            rx.dialog.description(
                P.app_name + " · " + P.action_name, size="2", color_scheme="gray"
            ),
            rx.vstack(
                _auth_section(),
                rx.separator(size="4"),
                rx.form(
                    rx.vstack(
                        rx.text("Parameters", size="3", weight="bold"),
                        rx.foreach(P.params, lambda f: _param_input(f, "node-param-")),
                        rx.cond(
                            P.params.length() == 0,
                            rx.text(
                                "This action takes no parameters.", size="2", color_scheme="gray"
                            ),
                        ),
                        rx.hstack(
                            rx.dialog.close(
                                rx.button(
                                    "Close", variant="soft", color_scheme="gray", type="button"
                                )
                            ),
                            rx.cond(
                                P.can_edit & (P.params.length() > 0),
                                rx.button("Save parameters", type="submit", id="save-params"),
                            ),
                            justify="end",
                            width="100%",
                            spacing="3",
                        ),
                        spacing="3",
                        width="100%",
                    ),
                    on_submit=P.save_params,
                    reset_on_submit=False,
                    key=P.form_key,
                    width="100%",
                ),
                spacing="4",
                width="100%",
                margin_top="12px",
            ),
            max_width="600px",
            max_height="88vh",
            overflow_y="auto",
            id="node-panel",
        ),
        open=P.open,
        on_open_change=P.open_changed,
    )


def builder_page() -> rx.Component:
    return app_shell(
        page_header(
            "Builder",
            "Workflows of this workspace and the connections their nodes use.",
            rx.button(
                rx.el.a(rx.icon("history", size=14), "Runs", href="/runs"),
                as_child=True,
                variant="soft",
            ),
        ),
        rx.cond(
            ~B.loaded,
            rx.center(rx.spinner(size="3"), padding="48px", width="100%"),
            rx.cond(
                B.workflows.length() > 0,
                rx.hstack(
                    _workflow_list(),
                    _workflow_detail(),
                    spacing="5",
                    align="start",
                    width="100%",
                    wrap="wrap",  # under ~600 px the workflow list sits above the detail
                ),
                empty_state(
                    "workflow",
                    "No workflows yet",
                    "Workflows are lists of app actions. Each action authenticates with a "
                    "connection you pick in its panel; one connection can back any number of "
                    "nodes.",
                    rx.cond(
                        B.can_edit,
                        rx.hstack(
                            rx.button(
                                rx.icon("plus", size=14),
                                "New workflow",
                                on_click=B.open_create,
                                id="first-workflow",
                            ),
                            rx.button(
                                rx.icon("upload", size=14),
                                "Import",
                                variant="soft",
                                on_click=B.open_import,
                            ),
                            spacing="2",
                        ),
                    ),
                ),
            ),
        ),
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
        confirm_dialog(
            "Delete “" + B.selected_name + "”?",
            "Its nodes go with it. Connections stay; run history stays.",
            rx.button(
                "Delete workflow",
                color_scheme="red",
                on_click=B.confirm_delete,
                id="delete-workflow-confirm",
            ),
            open=B.delete_open,
            on_open_change=B.delete_open_changed,
            max_width="440px",
        ),
        confirm_dialog(
            "Remove “" + B.remove_label + "”?",
            "The node is removed from this workflow. Its connection stays.",
            rx.button(
                "Remove node",
                color_scheme="red",
                on_click=B.confirm_remove,
                id="remove-node-confirm",
            ),
            open=B.remove_open,
            on_open_change=B.remove_open_changed,
            max_width="440px",
        ),
        _add_node_dialog(),
        _import_dialog(),
        _node_panel(),
        _switch_dialog(),
        add_dialog(),
    )
