"""The fleet: many municipality profiles in one console (docs/fleet.md).

- ``seen``: what the board knows without asking anyone (the last preflight, the gateway as last seen);
- ``board``: where every municipality stands, what needs a person first.
"""
