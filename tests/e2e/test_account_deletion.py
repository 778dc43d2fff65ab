"""Deleting an account in a real browser (F7, "same for an account"): the admin of a
throwaway account made with the CLI (never the demo account other tests use) deletes
it through the typed confirmation on /workspaces; a builder of its workspace, open
on its Integrations list in another browser, is sent away without a reload; the
stored secret no longer opens and the audit trail keeps the deletion."""

from __future__ import annotations

import os
import re

from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from tests.e2e.conftest import DEMO_PASSWORD, UI


def test_an_account_admin_deletes_the_account_and_its_screens_follow(ui: UI, other: UI) -> None:
    suffix = os.urandom(3).hex()
    name, slug = f"Doomed Agency {suffix}", f"doomed-{suffix}"
    admin, builder = f"owner-{suffix}@doomed.test", f"builder-{suffix}@doomed.test"
    label = f"Doomed Stripe {suffix}"
    steps = [
        (("account", "create", "--name", name, "--slug", slug), ""),
        (("workspace", "create", "--account", slug, "--name", "Ops", "--slug", "ops"), ""),
        (("user", "create", "--email", admin, "--name", "Owen Owner", "--password-stdin"),
         DEMO_PASSWORD),
        (("user", "create", "--email", builder, "--name", "Bo Builder", "--password-stdin"),
         DEMO_PASSWORD),
        (("user", "add-member", "--email", admin, "--account", slug, "--role", "account-admin"),
         ""),
        (("user", "add-member", "--email", builder, "--account", slug, "--workspace", "ops",
          "--role", "builder"), ""),
        (("connection", "add", "--account", slug, "--workspace", "ops", "--app", "stripe",
          "--label", label), "sk_test_DoomedAccountKey0123456789"),
    ]  # fmt: skip
    for argv, stdin in steps:
        done = ui.app.admin(*argv, stdin=stdin)
        assert done.returncode == 0, (argv, done.stderr)
    engine = create_engine(ui.app.env["REFLEX_DB_URL"])
    with engine.connect() as db:
        account_id = db.execute(
            text("SELECT id FROM accounts WHERE slug = :s"), {"s": slug}
        ).scalar_one()
        tenants = [account_id, *db.execute(
            text("SELECT id FROM workspaces WHERE account_id = :a"), {"a": account_id}
        ).scalars()]  # fmt: skip

    # The builder's browser stands in the account's only workspace, its connection shown.
    other.sign_in(builder)
    expect(other.page.get_by_text(label).first).to_be_visible()

    page = ui.page
    ui.sign_in(admin)
    expect(page.locator("#workspace-switcher")).to_be_visible()
    ui.goto("/workspaces")
    expect(page.locator("#account-danger-zone")).to_contain_text(name)
    page.locator("#delete-account").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Delete account “{name}”?")
    summary = page.locator("#account-deletion-summary")
    expect(summary).to_contain_text("1 workspace (“Ops”)")
    expect(summary).to_contain_text("1 workspace connection and every stored credential")
    confirm = page.locator("#confirm-delete-account")
    field = page.locator("#confirm-account-name")
    expect(confirm).to_be_disabled()
    field.fill(name.upper())
    expect(confirm).to_be_disabled()
    ui.shot("account-delete-confirm")
    field.fill(name)
    expect(confirm).to_be_enabled()
    field.press("Enter")  # the keyboard submits as the button does

    # Neither person has anything left here: both end on the sign-in page, unreloaded.
    expect(page).to_have_url(re.compile(r"/sign-in"), timeout=20_000)
    expect(other.page).to_have_url(re.compile(r"/sign-in"), timeout=20_000)
    expect(other.page.get_by_text(label)).to_have_count(0)

    with engine.connect() as db:
        assert (
            db.execute(
                text("SELECT count(*) FROM accounts WHERE id = :a"), {"a": account_id}
            ).scalar_one()
            == 0
        )
        keys = db.execute(
            text("SELECT tenant_id, state, wrapped_key FROM data_keys WHERE tenant_id IN "
                 "(" + ", ".join(f":t{n}" for n in range(len(tenants))) + ")"),
            {f"t{n}": t for n, t in enumerate(tenants)},
        ).all()  # fmt: skip
        assert {k[0] for k in keys} == set(tenants)
        assert all(state == "destroyed" and wrapped is None for _, state, wrapped in keys)
        assert (
            db.execute(
                text("SELECT count(*) FROM connections WHERE label = :l"), {"l": label}
            ).scalar_one()
            == 0
        )
        events = db.execute(
            text("SELECT detail FROM audit_events WHERE action = 'account_deleted' "
                 "AND account_id = :a"), {"a": account_id},
        ).all()  # fmt: skip
        assert len(events) == 1 and name in str(events[0][0])
        assert "sk_test_DoomedAccount" not in str(events)
    engine.dispose()
