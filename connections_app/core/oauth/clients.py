"""The installation's OAuth client registration per catalog app.

An operator registers it once (`connections-admin oauth-client set`, secret on
stdin); the client secret is sealed under the installation's data key and
opened only to call the provider's token and revocation endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from connections_app.core.catalog import get_catalog
from connections_app.core.clock import utcnow
from connections_app.core.errors import Invalid, NotFound
from connections_app.core.oauth.models import AccountOAuthApp, OAuthClientRegistration
from connections_app.core.validation import clean_text
from connections_app.core.vault import Sealed, SealedPlace, Vault

_NOT_SET_UP = (
    "This app's OAuth sign-in is not set up on this installation. "
    "An operator registers it with `connections-admin oauth-client set`."
)


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str

    def __repr__(self) -> str:  # never print the secret, even in a traceback
        return f"ClientCredentials(client_id={self.client_id!r}, client_secret=<sealed>)"


def set_client(
    db: Session, *, vault: Vault, app: object, client_id: object, client_secret: object
) -> None:
    """Create or replace the registration; part of the caller's transaction."""
    definition = get_catalog().get(app)
    if definition.oauth is None:
        raise Invalid(f"{definition.name} has no OAuth 2.0 sign-in.", field="app")
    cid = clean_text(client_id, field="client_id", label="Client ID", max_length=255)
    if not isinstance(client_secret, str) or not 1 <= len(client_secret) <= 1024:
        raise Invalid("Enter the client secret.", field="client_secret")
    sealed = vault.encrypt(
        db,
        place=SealedPlace.oauth_client(definition.key),
        plaintext=client_secret,
    )
    row = db.get(OAuthClientRegistration, definition.key) or OAuthClientRegistration(
        app=definition.key,
        client_id=cid,
        secret_key_version=sealed.key_version,
        secret_nonce=sealed.nonce,
        secret_ciphertext=sealed.ciphertext,
    )
    row.client_id = cid
    row.secret_key_version, row.secret_nonce, row.secret_ciphertext = (
        sealed.key_version,
        sealed.nonce,
        sealed.ciphertext,
    )
    row.updated_at = utcnow()
    db.add(row)


def client_id_of(db: Session, *, app: str) -> str:
    row = db.get(OAuthClientRegistration, app)
    if row is None:
        raise NotFound(_NOT_SET_UP)
    return row.client_id


def registered_apps(db: Session) -> set[str]:
    return set(db.exec(select(OAuthClientRegistration.app)).all())


def credentials(db: Session, *, vault: Vault, app: str) -> ClientCredentials:
    """Open the registration for one provider call; callers drop it right after."""
    row = db.get(OAuthClientRegistration, app)
    if row is None:
        raise NotFound(_NOT_SET_UP)
    secret = vault.decrypt(
        db,
        place=SealedPlace.oauth_client(app),
        sealed=Sealed(row.secret_key_version, row.secret_nonce, row.secret_ciphertext),
    )
    return ClientCredentials(row.client_id, secret)


def account_credentials(db: Session, *, vault: Vault, row: AccountOAuthApp) -> ClientCredentials:
    """An account OAuth app's client, opened for one provider call (a public client has
    no secret: an empty one)."""
    if row.secret_ciphertext is None or row.secret_nonce is None:
        return ClientCredentials(row.client_id, "")
    secret = vault.decrypt(
        db,
        place=SealedPlace.account_oauth_app(row.account_id, row.id),
        sealed=Sealed(row.secret_key_version or 0, row.secret_nonce, row.secret_ciphertext),
    )
    return ClientCredentials(row.client_id, secret)
