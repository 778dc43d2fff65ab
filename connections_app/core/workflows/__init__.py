"""Workflows: ordered nodes that use connections by reference (never credential data)."""
