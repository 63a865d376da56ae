"""Settings read from the environment: the S3 prefixes must not overlap."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.config import Settings


def test_the_default_prefixes_are_disjoint() -> None:
    settings = Settings.from_environ({})
    assert (settings.datasets_prefix, settings.batch_input_prefix) == ("datasets/", "batch/input/")
    assert settings.batch_output_prefix == "batch/output/"


@pytest.mark.parametrize(
    ("variable", "value", "names"),
    [
        ("SAGEWIRE_BATCH_OUTPUT_PREFIX", "batch/input/out/", "BATCH_INPUT_PREFIX"),
        ("SAGEWIRE_BATCH_OUTPUT_PREFIX", "batch/", "BATCH_INPUT_PREFIX"),
        ("SAGEWIRE_BATCH_OUTPUT_PREFIX", "batch/input/", "BATCH_INPUT_PREFIX"),
        ("SAGEWIRE_BATCH_OUTPUT_PREFIX", "", "BATCH_INPUT_PREFIX"),
        ("SAGEWIRE_BATCH_OUTPUT_PREFIX", "datasets/predictions/", "DATASETS_PREFIX"),
        ("SAGEWIRE_BATCH_INPUT_PREFIX", "datasets/batch/", "DATASETS_PREFIX"),
    ],
)
def test_overlapping_prefixes_are_refused_at_load(variable: str, value: str, names: str) -> None:
    with pytest.raises(ValueError, match="overlap") as refused:
        Settings.from_environ({variable: value})
    assert variable in str(refused.value)
    assert names in str(refused.value)


def test_a_replaced_setting_is_checked_too() -> None:
    with pytest.raises(ValueError, match="overlap"):
        replace(Settings.from_environ({}), batch_output_prefix="batch/input/predictions/")


def test_sibling_prefixes_sharing_a_stem_are_refused_when_one_starts_the_other() -> None:
    # "batch/out" starts "batch/output/": S3 prefixes are strings, not folders.
    with pytest.raises(ValueError, match="overlap"):
        Settings.from_environ({"SAGEWIRE_BATCH_INPUT_PREFIX": "batch/out"})
    settings = Settings.from_environ({"SAGEWIRE_BATCH_OUTPUT_PREFIX": "batch/results/"})
    assert settings.batch_output_prefix == "batch/results/"


def test_fronted_endpoints_are_a_comma_separated_list_empty_by_default() -> None:
    fronted = Settings.from_environ({"SAGEWIRE_FRONTED_ENDPOINTS": " KMeansEndpoint-1 ,, xgb-2 "})

    assert fronted.fronted_endpoints == ("KMeansEndpoint-1", "xgb-2")
    assert Settings.from_environ({}).fronted_endpoints == ()
