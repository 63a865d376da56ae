"""The trust policy alone: prefixes and their boundaries, the stage's defaults, the project's."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.config import Settings
from chalicelib.definitions import parse_project
from chalicelib.errors import InvalidDefinition
from chalicelib.models import Project, Trust
from chalicelib.records import Run
from chalicelib.services.trust import TrustPolicy
from tests.factories import project_document
from tests.fakes import EPOCH

REGISTRY = "382416733822.dkr.ecr.us-east-1.amazonaws.com"
IMAGE = f"{REGISTRY}/linear-learner:1"
ARTIFACT = "s3://models/zero/output/model.tar.gz"
ROLE = "arn:aws:iam::123456789012:role/SageMakerTraining"
STAGE = TrustPolicy(Trust(images=(REGISTRY,), artifacts=("s3://models/",)))


def project(trust: dict[str, list[str]] | None = None) -> Project:
    document = project_document()
    if trust is not None:
        document["trust"] = trust
    return parse_project(document)


def run(image: str = IMAGE, artifact: str = ARTIFACT, role: str | None = ROLE) -> Run:
    return Run(
        name="zero",
        arn="arn:aws:sagemaker:us-east-1:123456789012:training-job/zero",
        status="Completed",
        last_modified_at=EPOCH,
        training_image=image,
        model_artifact=artifact,
        role_arn=role,
    )


def refusal(policy: TrustPolicy, job: Run, trust: dict[str, list[str]] | None = None) -> str | None:
    return policy.refusal(project(trust), job)


@pytest.mark.parametrize(
    "image",
    [
        IMAGE,
        f"{REGISTRY}/linear-learner@sha256:{'a' * 64}",
        f"{REGISTRY}/team/deep/repository:latest",
        REGISTRY + "/kmeans",
    ],
)
def test_a_registry_trusts_every_image_in_it(image: str) -> None:
    assert refusal(STAGE, run(image=image)) is None


@pytest.mark.parametrize(
    "image",
    [
        "999999999999.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1",
        f"{REGISTRY}.attacker.example/linear-learner:1",
        f"{REGISTRY}evil/linear-learner:1",
        f"{REGISTRY[:-4]}:1",
        "",
    ],
)
def test_an_image_outside_the_registry_is_untrusted(image: str) -> None:
    reason = refusal(STAGE, run(image=image))

    assert reason is not None
    assert reason.startswith("untrusted image ")


@pytest.mark.parametrize(
    ("image", "trusted"),
    [
        (f"{REGISTRY}/linear-learner:1", True),
        (f"{REGISTRY}/linear-learner@sha256:{'0' * 64}", True),
        (f"{REGISTRY}/linear-learner", True),
        (f"{REGISTRY}/linear-learner-evil:1", False),
        (f"{REGISTRY}/linear-learners:1", False),
        (f"{REGISTRY}/kmeans:1", False),
    ],
)
def test_a_repository_trusts_its_tags_and_digests_only(image: str, trusted: bool) -> None:
    own = {"images": [f"{REGISTRY}/linear-learner"]}

    assert (refusal(STAGE, run(image=image), own) is None) == trusted


@pytest.mark.parametrize(
    ("artifact", "trusted"),
    [
        ("s3://models/zero/output/model.tar.gz", True),
        ("s3://models-evil/zero/output/model.tar.gz", False),
        ("s3://modelsx/model.tar.gz", False),
        ("s3://models/../elsewhere/model.tar.gz", False),
        ("s3://models/a/./b/model.tar.gz", False),
        ("s3://models//model.tar.gz", False),
        ("https://models.s3.amazonaws.com/zero/model.tar.gz", False),
    ],
)
def test_an_artifact_is_trusted_only_under_a_trusted_prefix(artifact: str, trusted: bool) -> None:
    reason = refusal(STAGE, run(artifact=artifact))

    assert (reason is None) == trusted
    assert trusted or (reason or "").startswith("untrusted artifact ")


def test_a_prefix_without_a_slash_ends_at_a_key_segment() -> None:
    own = {"artifacts": ["s3://models/team-a"]}

    assert refusal(STAGE, run(artifact="s3://models/team-a/zero/model.tar.gz"), own) is None
    assert refusal(STAGE, run(artifact="s3://models/team-ab/zero/model.tar.gz"), own) is not None


def test_roles_are_checked_only_where_some_are_named() -> None:
    assert refusal(STAGE, run(role=None)) is None
    named = {"roles": [ROLE]}
    assert refusal(STAGE, run(), named) is None
    other = run(role="arn:aws:iam::123456789012:role/SageMakerTrainingAdmin")
    assert refusal(STAGE, other, named) == (
        "untrusted role arn:aws:iam::123456789012:role/SageMakerTrainingAdmin"
    )
    assert refusal(STAGE, run(role=None), named) == "untrusted role (none)"


def test_a_role_path_trusts_the_roles_under_it() -> None:
    path = {"roles": ["arn:aws:iam::123456789012:role/training/"]}

    assert refusal(STAGE, run(role="arn:aws:iam::123456789012:role/training/zero"), path) is None
    assert refusal(STAGE, run(role=ROLE), path) is not None


def test_a_projects_fields_replace_the_stages_one_by_one() -> None:
    own = {"images": ["123456789012.dkr.ecr.us-east-1.amazonaws.com/ours"]}
    ours = run(image="123456789012.dkr.ecr.us-east-1.amazonaws.com/ours:7")

    assert refusal(STAGE, ours, own) is None  # its images, the stage's artifacts
    assert refusal(STAGE, run(), own) == f"untrusted image {IMAGE}"
    assert refusal(STAGE, ours) is not None


def test_with_neither_a_project_nor_a_stage_policy_nothing_is_trusted() -> None:
    nothing = TrustPolicy(Trust())

    assert refusal(nothing, run()) == (
        "no trusted images: set trust.images or SAGEWIRE_TRUSTED_IMAGES"
    )
    assert refusal(nothing, run(), {"images": [REGISTRY]}) == (
        "no trusted artifacts: set trust.artifacts or SAGEWIRE_TRUSTED_ARTIFACTS"
    )


def test_what_the_job_chose_is_echoed_printable_and_short() -> None:
    reason = refusal(STAGE, run(image="evil.example/x\n\u2028" + "y" * 500))

    assert reason is not None
    assert reason.startswith("untrusted image evil.example/x??yyy")
    assert len(reason) < 230
    assert reason.endswith("…")


def test_the_stage_settings_are_read_and_refused_when_they_could_never_match() -> None:
    settings = Settings.from_environ(
        {
            "SAGEWIRE_TRUSTED_IMAGES": f"{REGISTRY}, 763104351884.dkr.ecr.us-east-1.amazonaws.com",
            "SAGEWIRE_TRUSTED_ARTIFACTS": "s3://models/",
            "SAGEWIRE_TRUSTED_ROLES": ROLE,
        }
    )
    policy = TrustPolicy.from_settings(settings)
    assert policy.defaults == Trust(
        (REGISTRY, "763104351884.dkr.ecr.us-east-1.amazonaws.com"), ("s3://models/",), (ROLE,)
    )
    with pytest.raises(ValueError, match="SAGEWIRE_TRUSTED_IMAGES"):
        TrustPolicy.from_settings(replace(settings, trusted_images=("linear-learner",)))
    with pytest.raises(ValueError, match="SAGEWIRE_TRUSTED_ARTIFACTS"):
        TrustPolicy.from_settings(replace(settings, trusted_artifacts=("models/",)))


@pytest.mark.parametrize(
    ("trust", "field"),
    [
        ({"images": ["linear-learner"]}, "trust.images[0]"),
        ({"images": ["https://registry.example/x"]}, "trust.images[0]"),
        ({"artifacts": ["s3://models/../x"]}, "trust.artifacts[0]"),
        ({"artifacts": ["models/"]}, "trust.artifacts[0]"),
        ({"roles": ["SageMakerTraining"]}, "trust.roles[0]"),
        ({"images": "382416733822.dkr.ecr.us-east-1.amazonaws.com"}, "trust.images"),
        ({"users": []}, "trust.users"),
    ],
)
def test_a_definitions_trust_is_validated(trust: dict[str, object], field: str) -> None:
    document = project_document()
    document["trust"] = trust

    with pytest.raises(InvalidDefinition) as raised:
        parse_project(document)

    assert raised.value.field == field


_SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._:@/", max_size=30)


@given(suffix=_SEGMENT)
def test_an_image_is_trusted_exactly_when_it_is_the_prefix_or_continues_at_a_boundary(
    suffix: str,
) -> None:
    own = {"images": [f"{REGISTRY}/linear-learner"]}
    image = f"{REGISTRY}/linear-learner{suffix}"

    trusted = refusal(STAGE, run(image=image), own) is None

    assert trusted == (suffix == "" or suffix[0] in ":@/")


SOURCE = '"s3://models/zero/source/sourcedir.tar.gz"'


def script_run(**hyperparameters: str) -> Run:
    """A script-mode run: the SDK's hyperparameters, JSON-encoded."""
    base = {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": SOURCE}
    return replace(run(), hyperparameters=base | hyperparameters)


def test_the_inference_code_of_a_script_mode_run_comes_from_a_trusted_prefix_too() -> None:
    assert refusal(STAGE, script_run()) is None
    foreign = script_run(sagemaker_submit_directory='"s3://attacker/sourcedir.tar.gz"')
    assert refusal(STAGE, foreign) == "untrusted submit directory s3://attacker/sourcedir.tar.gz"
    dotted = script_run(sagemaker_submit_directory='"s3://models/../attacker/code.tar.gz"')
    assert (
        refusal(STAGE, dotted) == "untrusted submit directory s3://models/../attacker/code.tar.gz"
    )
    # Not JSON: read as the raw string, as the toolkits would see it.
    assert refusal(STAGE, script_run(sagemaker_submit_directory="s3://models/raw.tar.gz")) is None


@pytest.mark.parametrize(
    ("program", "problem"),
    [
        ('"/etc/passwd"', "sagemaker_program must be a relative file path"),
        ('"../../bin/sh"', "sagemaker_program must not have . or .. segments"),
        ('"code/./serve.py"', "sagemaker_program must not have . or .. segments"),
        ('"serve.py; rm -rf /"', "sagemaker_program must be a relative file path"),
        ('""', "sagemaker_program must be a relative file path"),
    ],
)
def test_a_program_outside_the_code_directory_is_never_promoted_automatically(
    program: str, problem: str
) -> None:
    assert refusal(STAGE, script_run(sagemaker_program=program)) == f"unservable program: {problem}"


def test_a_definitions_own_code_replaces_what_the_job_says() -> None:
    document = project_document()
    document["endpoint"]["model"] = {
        "environment": {
            "SAGEMAKER_PROGRAM": "serve.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "s3://elsewhere/code.tar.gz",
        }
    }
    job = script_run(
        sagemaker_program='"../x.py"', sagemaker_submit_directory='"s3://attacker/c.tar.gz"'
    )
    assert STAGE.refusal(parse_project(document), job) is None


def test_a_built_in_algorithm_run_has_no_code_to_check() -> None:
    assert refusal(STAGE, replace(run(), hyperparameters={"feature_dim": "784"})) is None
