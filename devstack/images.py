"""Training images by URI: SageMaker's built-in algorithm registries per region, and stand-ins."""

from __future__ import annotations

import re
from typing import Final

KMEANS: Final = "kmeans"
LINEAR_LEARNER: Final = "linear-learner"
XGBOOST: Final = "xgboost"
SOFTMAX: Final = "softmax"

# The registry accounts of the SageMaker Python SDK's image_uri_config/{kmeans,linear-learner,
# xgboost}.json for the regions the stack supports (version "1" of k-means and linear-learner
# share one account per region; sagemaker-xgboost has its own).
_FIRST_PARTY: Final = {
    "us-east-1": "382416733822",
    "us-east-2": "404615174143",
    "us-west-2": "174872318107",
    "eu-west-1": "438346466558",
}
_XGBOOST: Final = {
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-west-2": "246618743249",
    "eu-west-1": "141502667606",
}
REGIONS: Final = tuple(_FIRST_PARTY)
XGBOOST_VERSIONS: Final = ("1.0-1", "1.2-1", "1.2-2", "1.3-1", "1.5-1", "1.7-1")
# The softmax classifier stands in for the notebooks' PyTorch script (its image names the job).
_PYTORCH_STAND_IN: Final = (
    "763104351884.dkr.ecr.{region}.amazonaws.com/pytorch-training:2.1-cpu-py310"
)
_IMAGE: Final = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com"
    r"/(?P<repository>[a-z0-9._/-]+):(?P<tag>[A-Za-z0-9._-]+)"
)


def sklearn_image(region: str, version: str = "1.2-1") -> str:
    """The scikit-learn framework image (script mode): the SDK's sklearn.json puts it in the
    sagemaker-xgboost registries."""
    if region not in _XGBOOST:
        raise ImageError(f"the stack knows no SageMaker registry in {region}")
    registry = f"{_XGBOOST[region]}.dkr.ecr.{region}.amazonaws.com"
    return f"{registry}/sagemaker-scikit-learn:{version}-cpu-py3"


class ImageError(ValueError):
    """A training image the stack cannot run (SageMaker could not pull it)."""


def image_uri(algorithm: str, region: str, version: str = "1") -> str:
    """The image SageMaker publishes for a built-in algorithm in `region` (or the stand-in's)."""
    if algorithm == SOFTMAX:
        return _PYTORCH_STAND_IN.format(region=region)
    if region not in _FIRST_PARTY:
        raise ImageError(f"the stack knows no SageMaker registry in {region}")
    if algorithm == XGBOOST:
        return f"{_XGBOOST[region]}.dkr.ecr.{region}.amazonaws.com/sagemaker-xgboost:{version}"
    if algorithm in (KMEANS, LINEAR_LEARNER):
        return f"{_FIRST_PARTY[region]}.dkr.ecr.{region}.amazonaws.com/{algorithm}:{version}"
    raise ImageError(f"no image for algorithm {algorithm!r}")


def serving_image_uri(algorithm: str, region: str, version: str = "1") -> str:
    """The image a model of `algorithm` serves from: the training image of a built-in algorithm,
    the `pytorch-inference` twin of the stand-in's `pytorch-training` image (a training image
    has no `serve`), as sagewire's promotions and the SDK's deploy() choose it."""
    image = image_uri(algorithm, region, version)
    if algorithm == SOFTMAX:
        return image.replace("/pytorch-training:", "/pytorch-inference:")
    return image


def algorithm_of(image: str, region: str) -> str:
    """The algorithm a job's TrainingImage runs in `region`; ImageError if SageMaker would not
    find it there (unknown registry, repository or tag, or another region's image)."""
    match = _IMAGE.fullmatch(image)
    not_found = ImageError(f"Requested image {image} not found.")
    if match is None or match["region"] != region or region not in _FIRST_PARTY:
        if image == image_uri(SOFTMAX, region):
            return SOFTMAX
        raise not_found
    account, repository, tag = match["account"], match["repository"], match["tag"]
    if repository in (KMEANS, LINEAR_LEARNER):
        if account == _FIRST_PARTY[region] and tag in ("1", "latest"):
            return repository
    elif repository == "sagemaker-xgboost":
        if account == _XGBOOST[region] and tag in XGBOOST_VERSIONS:
            return XGBOOST
    elif image == image_uri(SOFTMAX, region):
        return SOFTMAX
    raise not_found


def trusted_registries(region: str) -> tuple[str, ...]:
    """The registries of the images the stack runs in `region`: what the local stage trusts, as
    a real stage trusts SageMaker's built-in algorithm and framework registries."""
    known = (KMEANS, LINEAR_LEARNER, XGBOOST) if region in _FIRST_PARTY else ()
    return tuple(sorted({image_uri(a, region).split("/", 1)[0] for a in (*known, SOFTMAX)}))
