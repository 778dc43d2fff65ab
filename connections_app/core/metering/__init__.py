"""Metered spend of account connections granted to workspaces (F9, F22, F25)."""
