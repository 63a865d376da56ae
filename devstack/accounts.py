"""Who calls the local AWS: a request's account and region, resolved as moto resolves them."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.iam.models import get_account_id_from

_CREDENTIAL = re.compile(r"Credential=(?P<key>[^/,\s]+)/[^/]+/(?P<region>[^/]+)/")


def caller(environ: Mapping[str, Any]) -> tuple[str, str]:
    """(account, region) of a WSGI request: the region of its signature's credential scope, the
    account moto gives its access key (`MOTO_ACCOUNT_ID` or `X-Moto-Account-Id` override it)."""
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    region = match["region"] if match else os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    account = (
        os.environ.get("MOTO_ACCOUNT_ID")
        or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
        or (get_account_id_from(match["key"]) if match else DEFAULT_ACCOUNT_ID)
    )
    return str(account), region
