"""The bodies of PUT and PATCH .../variants: what is accepted is exactly what SageMaker takes."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.errors import InvalidParameter
from chalicelib.processing.variant_bodies import (
    MAX_VARIANTS,
    VARIANT_NAME,
    VariantChoice,
    parse_variants,
    parse_weights,
)

names = st.from_regex(VARIANT_NAME, fullmatch=True)
weights = st.floats(min_value=0, max_value=1e6, allow_nan=False) | st.integers(0, 1000)
choices = st.fixed_dictionaries({"name": names, "run": names, "weight": weights})
json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _acceptable(items: list[dict[str, Any]]) -> bool:
    lowered = [item["name"].lower() for item in items]
    return len(set(lowered)) == len(lowered) and any(item["weight"] > 0 for item in items)


@given(st.lists(choices, min_size=1, max_size=MAX_VARIANTS), st.booleans())
def test_well_formed_variants_are_read_in_order_or_refused_for_a_reason(
    items: list[dict[str, Any]], bare: bool
) -> None:
    body: Any = items if bare else {"variants": items}
    if not _acceptable(items):
        with pytest.raises(InvalidParameter, match=r"twice|above 0"):
            parse_variants(body)
        return
    parsed = parse_variants(body)
    assert parsed == tuple(
        VariantChoice(item["name"], item["run"], float(item["weight"])) for item in items
    )
    assert all(isinstance(choice.weight, float) for choice in parsed)


@given(json_values)
def test_anything_else_is_a_400_never_a_crash(body: Any) -> None:
    try:
        parsed = parse_variants(body)
    except InvalidParameter:
        return
    assert 1 <= len(parsed) <= MAX_VARIANTS
    for choice in parsed:
        assert VARIANT_NAME.fullmatch(choice.name)
        assert VARIANT_NAME.fullmatch(choice.run)
        assert math.isfinite(choice.weight)
        assert choice.weight >= 0


@pytest.mark.parametrize(
    "body",
    [
        {"variants": [{"name": "A", "run": "r", "weight": True}]},
        {"variants": [{"name": "A", "run": "r", "weight": -0.1}]},
        {"variants": [{"name": "A", "run": "r", "weight": 10**400}]},
        {"variants": [{"name": "-A", "run": "r", "weight": 1}]},
        {"variants": [{"name": "A" * 64, "run": "r", "weight": 1}]},
        {"variants": [{"name": "A", "run": "r", "weight": 1, "extra": 1}]},
        {"variants": [{"name": "A", "run": "r", "weight": 1}], "dry_run": True},
        {"variants": [{"name": f"v{i}", "run": "r", "weight": 1} for i in range(11)]},
        "A",
    ],
)
def test_what_put_refuses(body: Any) -> None:
    with pytest.raises(InvalidParameter):
        parse_variants(body)


@given(st.dictionaries(names, weights, min_size=1, max_size=MAX_VARIANTS))
def test_well_formed_weights_are_read_or_refused_for_a_twin(given_weights: dict[str, Any]) -> None:
    lowered = {name.lower() for name in given_weights}
    if len(lowered) != len(given_weights):
        with pytest.raises(InvalidParameter, match="twice"):
            parse_weights({"weights": given_weights})
        return
    parsed = parse_weights({"weights": given_weights})
    assert parsed == {name: float(weight) for name, weight in given_weights.items()}


@given(json_values)
def test_any_other_weights_body_is_a_400_never_a_crash(body: Any) -> None:
    try:
        parsed = parse_weights(body)
    except InvalidParameter:
        return
    assert all(math.isfinite(weight) and weight >= 0 for weight in parsed.values())


@pytest.mark.parametrize(
    "body",
    [{}, {"weights": {}}, {"weights": {"A": "1"}}, {"weights": {"A": 1}, "x": 1}, [1]],
)
def test_what_patch_refuses(body: Any) -> None:
    with pytest.raises(InvalidParameter):
        parse_weights(body)
