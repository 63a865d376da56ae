"""API Gateway's authorizers for each audience of the HTTP routes, and the caller they name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chalice.app import CognitoUserPoolAuthorizer, IAMAuthorizer

from chalicelib.config import Settings, get_settings
from chalicelib.models import Caller

# Authorizers are fixed when the app is packaged, so the stage's choice is read at import (once
# per process: get_settings() caches it); `caller` reads the same choice.
AUTH = get_settings()
# Operators: project definitions, promotions and the read routes, signed with SigV4.
OPERATORS: dict[str, Any] = {"authorizer": IAMAuthorizer()}


def _clients(settings: Settings) -> dict[str, Any]:
    """How API Gateway authenticates prediction clients on this stage."""
    if settings.predictions_auth == "iam":
        return OPERATORS
    if settings.predictions_auth == "cognito":
        if not settings.cognito_user_pool_arns:
            raise ValueError(
                "SAGEWIRE_PREDICTIONS_AUTH=cognito needs SAGEWIRE_COGNITO_USER_POOL_ARNS"
            )
        pools = list(settings.cognito_user_pool_arns)
        return {"authorizer": CognitoUserPoolAuthorizer("sagewire-clients", provider_arns=pools)}
    if settings.predictions_auth == "api_key":
        return {"api_key_required": True}
    return {}


CLIENTS = _clients(AUTH)
_GROUP_SEPARATORS = re.compile(r"[\s,\[\]]+")


def groups(claim: Any) -> frozenset[str]:
    """API Gateway's REST APIs flatten a list claim into "[a, b]"; a JWT keeps the list."""
    if isinstance(claim, list):
        return frozenset(str(group) for group in claim)
    if isinstance(claim, str):
        return frozenset(group for group in _GROUP_SEPARATORS.split(claim) if group)
    return frozenset()


def caller(context: Mapping[str, Any] | None) -> Caller:
    """Who the request's authorizer established, from API Gateway's request context."""
    context = context or {}
    identity = context.get("identity") or {}
    if AUTH.predictions_auth == "cognito":
        claims = (context.get("authorizer") or {}).get("claims") or {}
        return Caller("cognito", str(claims.get("sub") or ""), groups(claims.get("cognito:groups")))
    if AUTH.predictions_auth == "api_key":
        return Caller("api_key", str(identity.get("apiKeyId") or ""))
    if AUTH.predictions_auth == "iam":
        return Caller("iam", str(identity.get("userArn") or ""))
    return Caller("local")
