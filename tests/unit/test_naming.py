"""resource_name: valid, bounded, deterministic and distinct SageMaker names from any text."""

from __future__ import annotations

import hashlib

from hypothesis import assume, given
from hypothesis import strategies as st

from chalicelib.definitions import SAGEMAKER_NAME
from chalicelib.naming import MAX_NAME_LENGTH, resource_name

PARTS = st.lists(st.text(max_size=80), max_size=6)
VALID_CHARS = st.sampled_from("abcXYZ019-")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def test_valid_parts_are_joined_unchanged() -> None:
    assert resource_name("digits-zero", "linear-learner-mb-200") == (
        "digits-zero-linear-learner-mb-200"
    )


def test_invalid_characters_become_single_hyphens_and_the_digest_keeps_the_name_apart() -> None:
    name = resource_name("_digits zero_", "job.1", "--")

    assert name == f"digits-zero-job-1-{digest('_digits zero_-job.1---')}"
    assert name != resource_name("digits-zero", "job-1")


def test_text_without_a_valid_character_is_named_by_its_digest() -> None:
    assert resource_name("__", "") == digest("__-")
    assert resource_name() == digest("")


def test_long_names_keep_a_prefix_and_end_with_the_digest_of_the_whole_text() -> None:
    project, run = "p" * 40, "r" * 40

    name = resource_name(project, run)

    assert len(name) == MAX_NAME_LENGTH
    assert name == f"{project}-{'r' * 13}-{digest(f'{project}-{run}')}"


def test_a_prefix_cut_at_a_hyphen_does_not_double_it() -> None:
    name = resource_name("a" * 53, "b" * 20)

    assert name == f"{'a' * 53}-{digest('a' * 53 + '-' + 'b' * 20)}"


@given(PARTS)
def test_any_parts_give_a_valid_bounded_deterministic_name(parts: list[str]) -> None:
    name = resource_name(*parts)

    assert SAGEMAKER_NAME.fullmatch(name)
    assert len(name) <= MAX_NAME_LENGTH
    assert resource_name(*parts) == name


@given(PARTS, PARTS)
def test_different_joined_texts_give_different_names(a: list[str], b: list[str]) -> None:
    assume("-".join(a) != "-".join(b))

    assert resource_name(*a) != resource_name(*b)


@given(
    st.text(VALID_CHARS, min_size=MAX_NAME_LENGTH, max_size=120),
    st.text(min_size=1, max_size=20),
    st.text(min_size=1, max_size=20),
)
def test_long_inputs_differing_only_past_the_limit_get_different_names(
    head: str, tail_a: str, tail_b: str
) -> None:
    assume(tail_a != tail_b)

    assert resource_name(head, tail_a) != resource_name(head, tail_b)
