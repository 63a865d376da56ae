"""Deterministic SageMaker resource names (models, endpoint configs) built from free text."""

from __future__ import annotations

import hashlib
import re

MAX_NAME_LENGTH = 63
_DIGEST_LENGTH = 8
_OUTSIDE_ALPHABET = re.compile(r"[^a-zA-Z0-9-]")
_HYPHEN_RUN = re.compile(r"-{2,}")


def resource_name(*parts: str) -> str:
    """Joins `parts` with "-" into a valid SageMaker name; the same parts give the same name.

    A joined text that is already a valid name of at most 63 characters is the name. Any other
    text is sanitized, cut to fit and ends with "-" and 8 hex digits of the SHA-256 of the whole
    joined text, so texts that sanitizing or cutting would merge still get different names.
    """
    joined = "-".join(parts)
    name = _HYPHEN_RUN.sub("-", _OUTSIDE_ALPHABET.sub("-", joined)).strip("-")
    if name and name == joined and len(name) <= MAX_NAME_LENGTH:
        return name
    # A str may hold lone surrogates; strict UTF-8 would refuse to hash them.
    digest = hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_LENGTH]
    prefix = name[: MAX_NAME_LENGTH - _DIGEST_LENGTH - 1].rstrip("-")
    return f"{prefix}-{digest}" if prefix else digest
