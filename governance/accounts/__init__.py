"""Accounts: users, teams, business units, roles and API tokens."""
