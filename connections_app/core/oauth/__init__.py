"""OAuth 2.0 connections: client registrations, the connect flow, token refresh and revoke."""
