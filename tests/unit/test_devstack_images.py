"""The devstack's training image table: SageMaker's built-in registries per region."""

from __future__ import annotations

import pytest

from devstack import images

# From the SageMaker Python SDK's src/sagemaker/image_uri_config/{kmeans,xgboost}.json.
PUBLISHED = [
    ("us-east-1", "382416733822", "683313688378"),
    ("us-east-2", "404615174143", "257758044811"),
    ("us-west-2", "174872318107", "246618743249"),
    ("eu-west-1", "438346466558", "141502667606"),
]


@pytest.mark.parametrize(("region", "first_party", "xgboost"), PUBLISHED)
def test_published_images_run_their_algorithm(region: str, first_party: str, xgboost: str) -> None:
    registry = f"dkr.ecr.{region}.amazonaws.com"
    assert images.algorithm_of(f"{first_party}.{registry}/kmeans:1", region) == images.KMEANS
    assert (
        images.algorithm_of(f"{first_party}.{registry}/linear-learner:latest", region)
        == images.LINEAR_LEARNER
    )
    assert (
        images.algorithm_of(f"{xgboost}.{registry}/sagemaker-xgboost:1.7-1", region)
        == images.XGBOOST
    )
    assert images.image_uri(images.KMEANS, region) == f"{first_party}.{registry}/kmeans:1"
    assert images.image_uri(images.XGBOOST, region, "1.7-1") == (
        f"{xgboost}.{registry}/sagemaker-xgboost:1.7-1"
    )


@pytest.mark.parametrize(
    "image",
    [
        # another region's registry, or another account's copy
        "404615174143.dkr.ecr.us-east-2.amazonaws.com/kmeans:1",
        "382416733822.dkr.ecr.us-east-2.amazonaws.com/kmeans:1",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/kmeans:1",
        # xgboost from the first-party account, an unpublished tag, an unknown repository
        "382416733822.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:9.9-9",
        "382416733822.dkr.ecr.us-east-1.amazonaws.com/factorization-machines:1",
        "kmeans:1",
        "",
    ],
)
def test_images_sagemaker_would_not_find_are_refused(image: str) -> None:
    with pytest.raises(images.ImageError, match="not found"):
        images.algorithm_of(image, "us-east-1")


def test_the_pytorch_stand_in_runs_the_softmax_classifier() -> None:
    for region in (*images.REGIONS, "ap-south-1"):
        assert images.algorithm_of(images.image_uri(images.SOFTMAX, region), region) == "softmax"


def test_the_stage_trusts_the_registries_it_runs() -> None:
    assert images.trusted_registries("us-east-1") == (
        "382416733822.dkr.ecr.us-east-1.amazonaws.com",
        "683313688378.dkr.ecr.us-east-1.amazonaws.com",
        "763104351884.dkr.ecr.us-east-1.amazonaws.com",
    )
    assert images.trusted_registries("ap-south-1") == (
        "763104351884.dkr.ecr.ap-south-1.amazonaws.com",
    )
