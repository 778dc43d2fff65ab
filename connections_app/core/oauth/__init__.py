"""OAuth 2.0 conversations with providers: client registrations, the connect flow's
records (PKCE, single-use state) and the provider calls (exchange, refresh, revoke).
What those do to a connection belongs to `core/connections/` (import-linter)."""
