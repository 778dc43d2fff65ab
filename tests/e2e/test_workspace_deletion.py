"""Deleting a workspace in a real browser (F7): Ada (account admin) deletes a throwaway
workspace made with the CLI (never a demo workspace other tests use) through the typed
confirmation; a second browser standing in that workspace sees it vanish and lands in
a workspace she still has, its connection nowhere on screen; the stored secret no
longer opens and the audit trail keeps the deletion (and still verifies)."""

from __future__ import annotations

import os
import re

from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from tests.e2e.conftest import UI
from tests.e2e.test_account_grants import _in_workspace

ADA = "ada@northstar.test"


def test_ada_deletes_a_workspace_and_every_screen_of_it_follows(ui: UI, other: UI) -> None:
    suffix = os.urandom(3).hex()
    name, slug, label = f"Throwaway {suffix}", f"throwaway-{suffix}", f"Doomed Stripe {suffix}"
    made = ui.app.admin(
        "workspace", "create", "--account", "northstar", "--name", name, "--slug", slug
    )
    assert made.returncode == 0, made.stderr
    workspace_id = made.stdout.strip().rsplit("(", 1)[1].rstrip(")")
    added = ui.app.admin(
        "connection", "add", "--account", "northstar", "--workspace", slug,
        "--app", "stripe", "--label", label,
        stdin="sk_test_ThrowawayKey0123456789",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr

    # The second browser stands in the throwaway workspace, its connection on screen.
    other.sign_in(ADA)
    expect(other.page.locator("#workspace-switcher")).to_be_visible()
    _in_workspace(other.page, name)
    other.goto("/integrations")
    expect(other.page.get_by_text(label).first).to_be_visible()

    page = ui.page
    ui.sign_in(ADA)
    expect(page.locator("#workspace-switcher")).to_be_visible()
    ui.goto("/workspaces")
    expect(page.get_by_role("heading", name="Workspaces", exact=True)).to_be_visible()
    page.get_by_role("button", name=f"Delete workspace {name}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Delete workspace “{name}”?")
    expect(page.locator("#deletion-summary")).to_contain_text("1 connection and every stored")
    confirm = page.locator("#confirm-delete-workspace")
    expect(confirm).to_be_disabled()
    field = page.locator("#confirm-workspace-name")
    field.fill(name.lower())
    expect(confirm).to_be_disabled()
    ui.shot("workspace-delete-confirm")
    field.fill(name)
    expect(confirm).to_be_enabled()
    field.press("Enter")  # the keyboard submits as the button does
    expect(page.get_by_text(f"Workspace “{name}” deleted")).to_be_visible()
    expect(page.locator("#workspaces-table")).not_to_contain_text(name)

    # The other browser leaves the deleted workspace by itself: another one, or sign-in.
    expect(other.page.locator("#workspace-switcher")).not_to_contain_text(name, timeout=20_000)
    expect(other.page).to_have_url(re.compile(r"/integrations/?$"), timeout=20_000)
    expect(other.page.get_by_text(label)).to_have_count(0)
    other.goto("/builder")
    expect(other.page.locator("#workspace-switcher")).to_be_visible()
    expect(other.page.get_by_text(label)).to_have_count(0)
    other.page.locator("#workspace-switcher").click()
    expect(other.page.get_by_role("option", name=name)).to_have_count(0)
    other.page.keyboard.press("Escape")

    # What is left in the database: the destroyed keys, no connection, one event.
    engine = create_engine(ui.app.env["REFLEX_DB_URL"])
    with engine.connect() as db:
        events = db.execute(
            text("SELECT detail FROM audit_events WHERE action = 'workspace_deleted'")
        ).all()
        assert any(name in str(row[0]) for row in events)
        assert "sk_test_Throwaway" not in str(events)
        left = db.execute(
            text("SELECT count(*) FROM connections WHERE label = :label"), {"label": label}
        ).scalar_one()
        assert left == 0
        # Crypto-shredded: its data keys are destroyed (no wrapped key left to open any
        # copy of its ciphertexts), and none of its sealed rows remain.
        keys = db.execute(
            text("SELECT state, wrapped_key FROM data_keys WHERE tenant_id = :ws"),
            {"ws": workspace_id},
        ).all()
        assert keys and all(state == "destroyed" and wrapped is None for state, wrapped in keys)
        sealed = db.execute(
            text("SELECT count(*) FROM connection_secrets WHERE tenant_id = :ws"),
            {"ws": workspace_id},
        ).scalar_one()
        assert sealed == 0
    engine.dispose()
    verified = ui.app.admin("audit", "verify", "--account", "northstar")
    assert verified.returncode == 0 and "ok" in verified.stdout, verified.stdout
