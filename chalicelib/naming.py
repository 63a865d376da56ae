"""Deterministic SageMaker resource names (models, endpoint configs) built from free text."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from chalicelib.models import Project
from chalicelib.records import Champion, RunVariant, Variant

MAX_NAME_LENGTH = 63
_DIGEST_LENGTH = 8
_OUTSIDE_ALPHABET = re.compile(r"[^a-zA-Z0-9-]")
_HYPHEN_RUN = re.compile(r"-{2,}")
DEFAULT_CHALLENGER_WEIGHT = 0.1


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


def model_name(endpoint: str, run_name: str) -> str:
    """The model sagewire creates for a run behind an endpoint."""
    return resource_name(endpoint, run_name)


def endpoint_variants(
    project: Project, run_name: str, partner: str | None
) -> list[tuple[str, Variant]]:
    """The variants of a promotion of `run_name`, each with the run behind its model: the run
    alone, or for an A/B project the previous champion `partner` beside it as the challenger."""
    endpoint = project.endpoint
    strategy = endpoint.strategy
    model = model_name(endpoint.name, run_name)
    if strategy.type != "ab" or partner is None or partner == run_name:
        return [(run_name, Variant("AllTraffic", model, 1.0))]
    weight = strategy.challenger_weight or DEFAULT_CHALLENGER_WEIGHT
    champion = Variant("Champion", model_name(endpoint.name, partner), 1.0 - weight)
    return [(partner, champion), (run_name, Variant("Challenger", model, weight))]


def promotion_names(project: Project, run_name: str, partner: str | None) -> tuple[str, str]:
    """The model and endpoint config of a promotion of `run_name` (A/B: beside `partner`): every
    retry of one decision names the same resources, and another shape another config."""
    endpoint = project.endpoint
    variants = [variant for _, variant in endpoint_variants(project, run_name, partner)]
    shape = repr((variants, endpoint.instance_type, endpoint.instance_count))
    digest = hashlib.sha256(shape.encode()).hexdigest()[:_DIGEST_LENGTH]
    return model_name(endpoint.name, run_name), resource_name(endpoint.name, run_name, digest)


def champion_variants(project: Project, champion: Champion) -> list[tuple[str, Variant]]:
    """What the champion's endpoint config serves, each variant with its run: the split an
    operator chose, or what the project's strategy makes of the champion (`endpoint_variants`)."""
    if champion.variants:
        return [(variant.run_name, variant) for variant in champion.variants]
    return endpoint_variants(project, champion.run_name, champion.previous_run_name)


def variants_config_name(project: Project, variants: Sequence[RunVariant]) -> str:
    """The endpoint config of an operator's split: the same variants (names, models, weights, in
    order) on the same instances name the same config."""
    endpoint = project.endpoint
    shape = repr(
        (
            [(v.name, v.model_name, v.weight) for v in variants],
            endpoint.instance_type,
            endpoint.instance_count,
        )
    )
    digest = hashlib.sha256(shape.encode()).hexdigest()[:_DIGEST_LENGTH]
    return resource_name(endpoint.name, "variants", digest)
