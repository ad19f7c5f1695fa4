"""Connect self-hosted software to AWeber-style OAuth 2 with the out-of-band flow, and keep it connected.

The public surface is what ``__all__`` lists (a test keeps them in sync); everything else is
internal and may change.
"""

from __future__ import annotations

from oob_helper.config import Settings
from oob_helper.errors import (
    AccessDenied,
    AttemptError,
    AttemptExpired,
    AttemptNotFound,
    AuthorizationDenied,
    ConfigurationError,
    InvalidClient,
    InvalidGrant,
    InvalidPaste,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    LeaseLost,
    MalformedResponse,
    NetworkError,
    NotConnected,
    OobHelperError,
    ProviderError,
    ReauthorizationRequired,
    ServerError,
    SiteMismatch,
    StateMismatch,
    StoreError,
    TemporarilyUnavailable,
    UnauthorizedClient,
    UnsupportedGrantType,
    VersionConflict,
)
from oob_helper.helper import AuthorizationStart, OAuthHelper, RefreshOutcome, api_client
from oob_helper.lifecycle import LifecycleEvent
from oob_helper.providers import (
    AWEBER,
    CONSTANT_CONTACT,
    OOB_REDIRECT_URI,
    PROVIDERS,
    ClientAuth,
    Provider,
    custom_provider,
    get_provider,
)
from oob_helper.stores import TokenStore, open_store
from oob_helper.tokens import InstallRecord, InstallState, PendingAttempt, RefreshResult, Token

__all__ = [
    "AWEBER",
    "CONSTANT_CONTACT",
    "OOB_REDIRECT_URI",
    "PROVIDERS",
    "AccessDenied",
    "AttemptError",
    "AttemptExpired",
    "AttemptNotFound",
    "AuthorizationDenied",
    "AuthorizationStart",
    "ClientAuth",
    "ConfigurationError",
    "InstallRecord",
    "InstallState",
    "InvalidClient",
    "InvalidGrant",
    "InvalidPaste",
    "InvalidRequest",
    "InvalidScope",
    "InvalidToken",
    "LeaseLost",
    "LifecycleEvent",
    "MalformedResponse",
    "NetworkError",
    "NotConnected",
    "OAuthHelper",
    "OobHelperError",
    "PendingAttempt",
    "Provider",
    "ProviderError",
    "ReauthorizationRequired",
    "RefreshOutcome",
    "RefreshResult",
    "ServerError",
    "Settings",
    "SiteMismatch",
    "StateMismatch",
    "StoreError",
    "TemporarilyUnavailable",
    "Token",
    "TokenStore",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "VersionConflict",
    "api_client",
    "custom_provider",
    "get_provider",
    "open_store",
]
