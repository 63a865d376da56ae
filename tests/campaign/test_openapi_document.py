"""docs/openapi.yaml is valid OpenAPI and describes the app's routes and vocabularies exactly."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, get_args

import jsonschema_rs
import orjson
import pytest
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from app import app
from chalicelib import definitions, inference_spec, models, records
from chalicelib.entrypoints import http
from chalicelib.processing.decode import SUPPORTED_CONTENT_TYPES, decode

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text())
    return loaded


def schemas(document: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"]
    return found


def test_the_document_is_valid_openapi() -> None:
    spec, base_uri = read_from_filename(str(DOCUMENT))
    validate(spec, base_uri=base_uri)


def test_the_document_has_exactly_the_apps_routes(document: dict[str, Any]) -> None:
    documented = {
        (path, method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }
    routes = {(path, method) for path, methods in app.routes.items() for method in methods}
    assert documented == routes


@pytest.mark.parametrize(
    ("schema", "values"),
    [
        ("RunStatus", get_args(records.RunStatus)),
        ("EndpointStatus", get_args(records.EndpointStatus)),
        ("PromotionOutcome", get_args(records.PromotionOutcome)),
        ("StrategyType", get_args(models.StrategyType)),
        ("Goal", get_args(models.Goal)),
        ("Statistic", get_args(models.Statistic)),
        ("GuardOp", definitions.GUARD_OPS),
        ("PostprocessKind", get_args(inference_spec.PostprocessKind)),
        ("ResizeFilter", get_args(inference_spec.ResizeFilter)),
        ("JsonLayout", get_args(inference_spec.JsonLayout)),
        ("ModelOutputs", get_args(inference_spec.ModelOutputs)),
        ("RequestContentType", inference_spec.REQUEST_CONTENT_TYPES),
        ("ResponseContentType", inference_spec.RESPONSE_CONTENT_TYPES),
    ],
)
def test_enumerations_are_the_codes(
    document: dict[str, Any], schema: str, values: tuple[str, ...]
) -> None:
    assert schemas(document)[schema]["enum"] == list(values)


def test_prediction_and_report_media_types_are_the_codes(document: dict[str, Any]) -> None:
    predict = document["paths"]["/v1/projects/{project}/predictions"]["post"]
    assert list(predict["requestBody"]["content"]) == list(SUPPORTED_CONTENT_TYPES)
    report = document["paths"]["/v1/reports/latest"]["get"]
    (kind,) = (p for p in report["parameters"] if p["name"] == "format")
    assert kind["schema"]["enum"] == list(models.REPORT_CONTENT_TYPES)
    served = [media.split(";")[0] for media in models.REPORT_CONTENT_TYPES.values()]
    assert list(report["responses"]["200"]["content"]) == served


def test_every_error_status_the_app_answers_is_documented(document: dict[str, Any]) -> None:
    documented = {
        int(status)
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in METHODS
        for status in operation["responses"]
    }
    assert set(http._STATUS.values()) <= documented


def test_only_health_is_open_and_predictions_take_every_scheme(document: dict[str, Any]) -> None:
    assert document["security"] == [{"sigv4": []}]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            security = operation.get("security", document["security"])
            if path == "/v1/health":
                assert security == []
            elif path.endswith("/predictions"):
                assert security == [{"sigv4": []}, {"cognito": []}, {"api_key": []}]
            else:
                assert security == [{"sigv4": []}], (method, path)
    sigv4 = document["components"]["securitySchemes"]["sigv4"]
    assert sigv4["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_the_examples_are_accepted(document: dict[str, Any]) -> None:
    put = document["paths"]["/v1/projects/{project}"]["put"]
    for example in put["requestBody"]["content"]["application/json"]["examples"].values():
        project = definitions.parse_project(example["value"])
        assert definitions.project_to_document(project)["name"] == example["value"]["name"]
    predict = document["paths"]["/v1/projects/{project}/predictions"]["post"]
    for media, content in predict["requestBody"]["content"].items():
        for example in content.get("examples", {}).values():
            value = example["value"]
            body = value.encode() if isinstance(value, str) else orjson.dumps(value)
            assert decode(body, media)


def _pattern(document: dict[str, Any], *path: str) -> str:
    node: Any = document["components"]["schemas"]
    for key in path:
        node = node[key]
    pattern: str = node["pattern"]
    return pattern


# A value of each pattern, to probe characters inside one.
SAMPLES = {
    definitions.SAGEMAKER_NAME: "digits-zero",
    definitions.INSTANCE_TYPE: "ml.m5.large",
    definitions.ROLE_ARN: "arn:aws:iam::123456789012:role/Execution",
    definitions.GROUP_NAME: "team",
    definitions.API_KEY_ID: "key1",
}
# Every character up to U+3100 (all of ASCII, Latin, and every Unicode space), then a sample;
# no lone surrogates, which no JSON text decodes to.
PROBES = [chr(point) for point in range(0x3100)] + [
    chr(point) for point in range(0x3100, sys.maxunicode + 1, 251) if not 0xD800 <= point <= 0xDFFF
]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (("SageMakerName",), definitions.SAGEMAKER_NAME),
        (("EndpointDefinition", "properties", "instance_type"), definitions.INSTANCE_TYPE),
        (("EndpointDefinition", "properties", "execution_role_arn"), definitions.ROLE_ARN),
        (("AccessDefinition", "properties", "groups", "items"), definitions.GROUP_NAME),
        (("AccessDefinition", "properties", "api_keys", "items"), definitions.API_KEY_ID),
    ],
)
def test_patterns_are_the_codes(
    document: dict[str, Any], path: tuple[str, ...], code: re.Pattern[str]
) -> None:
    """The document's patterns, read as JSON Schema reads them (ECMA-262 semantics, by the
    validator schemathesis uses), accept what the code's (Python's `re`) accept: each character
    is tried alone and at the end of a valid value. `\\s` and `$` differ between the two."""
    pattern = jsonschema_rs.validator_for({"type": "string", "pattern": _pattern(document, *path)})
    valid = SAMPLES[code]
    assert code.fullmatch(valid)
    for char in PROBES:
        for probe in (char, valid + char):
            assert pattern.is_valid(probe) == bool(code.fullmatch(probe)), (path, probe)
