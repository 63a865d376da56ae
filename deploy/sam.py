"""SAM's own transform, offline: what CloudFormation will create from the packaged template."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator


@contextmanager
def _region(name: str) -> Iterator[None]:
    """SAM reads the region (for ARNs and partitions) from the environment."""
    before = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = name
    try:
        yield
    finally:
        if before is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = before


def expand(template: dict[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """The template with every AWS::Serverless::* resource expanded into CloudFormation's own
    (rules, permissions, event invoke configs, API stages), as `sam deploy` would send it."""
    sam = copy.deepcopy(template)
    for resource in sam.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        # The translator wants S3 locations; `sam package` would upload the zip there.
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in properties:
            properties["CodeUri"] = "s3://bucket/deployment.zip"
    with _region(region):
        translator = Translator(managed_policy_map=None, sam_parser=Parser())
        expanded: dict[str, Any] = translator.translate(
            sam_template=sam, parameter_values={}, get_managed_policy_map=dict
        )
    return expanded
