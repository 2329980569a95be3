"""SSB's feedback gateway ("filsluse" in the UI): a client for the MOVEit Transfer REST API subset.

- ``client``: ``GatewayClient`` (token, listing, details, download, mark, delete);
- ``models``: what the gateway answers, parsed and checked (``GatewayFile`` ...);
- ``passwords``: the password rules (the guide's, the server's, never the PIN);
- ``errors``: ``GatewayError`` and its kinds, all ``IplosError``s.

The fetch flow that uses the client is ``core.feedback.fetch.FeedbackFetch``.
"""

from iplos_tui.core.gateway.client import GatewayClient, Timeouts, make_ssl_context
from iplos_tui.core.gateway.errors import (
    GatewayAuthError,
    GatewayError,
    GatewayIntegrityError,
    GatewayNetworkError,
    GatewayUsageError,
    PasswordChangeRequired,
)
from iplos_tui.core.gateway.models import Downloaded, GatewayFile, GatewayFolder, GatewayUser, Listing, RefusedItem
from iplos_tui.core.gateway.passwords import PasswordRequirements, check_login_password, check_new_password, resembles_username

__all__ = [
    "Downloaded",
    "GatewayAuthError",
    "GatewayClient",
    "GatewayError",
    "GatewayFile",
    "GatewayFolder",
    "GatewayIntegrityError",
    "GatewayNetworkError",
    "GatewayUsageError",
    "GatewayUser",
    "Listing",
    "PasswordChangeRequired",
    "PasswordRequirements",
    "RefusedItem",
    "Timeouts",
    "check_login_password",
    "check_new_password",
    "make_ssl_context",
    "resembles_username",
]
