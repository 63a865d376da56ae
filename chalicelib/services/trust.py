"""The trust policy: which runs may be promoted without an operator, whatever they claim."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.config import Settings
from chalicelib.definitions import ARTIFACT_PREFIX, IMAGE_PREFIX, ROLE_ARN
from chalicelib.models import Project, Trust
from chalicelib.processing.model_containers import SUBMIT_DIRECTORY, hyperparameter, program_problem
from chalicelib.records import Run

# What may follow a trusted image prefix that does not end in "/": a tag, a digest or a deeper
# repository path. Anything else (".", "-", letters) would be another host or repository.
_IMAGE_BOUNDARY = (":", "@", "/")


def _within(value: str, prefix: str, boundaries: tuple[str, ...]) -> bool:
    if prefix.endswith("/"):
        return value.startswith(prefix)
    return value == prefix or (
        value.startswith(prefix) and value[len(prefix) : len(prefix) + 1] in boundaries
    )


def _image_trusted(image: str, prefixes: tuple[str, ...]) -> bool:
    return any(_within(image, prefix, _IMAGE_BOUNDARY) for prefix in prefixes)


def _artifact_trusted(artifact: str, prefixes: tuple[str, ...]) -> bool:
    # S3 keys are literal, but some clients fold "." and ".." segments: such keys are refused.
    if "/./" in artifact or "/../" in artifact or "//" in artifact.removeprefix("s3://"):
        return False
    return any(_within(artifact, prefix, ("/",)) for prefix in prefixes)


def _role_trusted(role: str, roles: tuple[str, ...]) -> bool:
    return any(_within(role, trusted, ()) for trusted in roles)


@dataclass(frozen=True)
class TrustPolicy:
    """The stage's defaults and each project's own policy, field by field."""

    defaults: Trust

    @classmethod
    def from_settings(cls, settings: Settings) -> TrustPolicy:
        """The stage's defaults, refused at start when one could never match."""
        for name, values, pattern in (
            ("SAGEWIRE_TRUSTED_IMAGES", settings.trusted_images, IMAGE_PREFIX),
            ("SAGEWIRE_TRUSTED_ARTIFACTS", settings.trusted_artifacts, ARTIFACT_PREFIX),
            ("SAGEWIRE_TRUSTED_ROLES", settings.trusted_roles, ROLE_ARN),
        ):
            for value in values:
                if not pattern.fullmatch(value):
                    raise ValueError(f"{name}: {value!r} does not match {pattern.pattern}")
        return cls(
            Trust(settings.trusted_images, settings.trusted_artifacts, settings.trusted_roles)
        )

    def of(self, project: Project) -> Trust:
        own = project.trust or Trust()
        return Trust(
            images=own.images or self.defaults.images,
            artifacts=own.artifacts or self.defaults.artifacts,
            roles=own.roles or self.defaults.roles,
        )

    def refusal(self, project: Project, run: Run) -> str | None:
        """Why the run may not be promoted automatically for the project; None if it may."""
        trust = self.of(project)
        image, artifact = run.training_image or "", run.model_artifact or ""
        if not trust.images:
            return "no trusted images: set trust.images or SAGEWIRE_TRUSTED_IMAGES"
        if not _image_trusted(image, trust.images):
            return f"untrusted image {_shown(image)}"
        if not trust.artifacts:
            return "no trusted artifacts: set trust.artifacts or SAGEWIRE_TRUSTED_ARTIFACTS"
        if not _artifact_trusted(artifact, trust.artifacts):
            return f"untrusted artifact {_shown(artifact)}"
        if trust.roles and not _role_trusted(run.role_arn or "", trust.roles):
            return f"untrusted role {_shown(run.role_arn or '')}"
        return _code_refusal(project, run, trust)


def _code_refusal(project: Project, run: Run, trust: Trust) -> str | None:
    """The inference code the model would run (the job's `sagemaker_submit_directory`, unless
    the definition names its own) comes from the trusted artifact locations too, and its
    `sagemaker_program` stays inside it."""
    overrides = project.endpoint.model.environment
    submitted = hyperparameter(run, SUBMIT_DIRECTORY)
    if (
        "SAGEMAKER_SUBMIT_DIRECTORY" not in overrides
        and submitted is not None
        and not _artifact_trusted(submitted, trust.artifacts)
    ):
        return f"untrusted submit directory {_shown(submitted)}"
    problem = None if "SAGEMAKER_PROGRAM" in overrides else program_problem(run)
    return None if problem is None else f"unservable program: {problem}"


_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")


def _shown(value: str) -> str:
    """A value the job's creator chose, safe to echo: printable ASCII, at most 200 characters."""
    shown = _UNPRINTABLE.sub("?", value[:200])
    return shown + ("…" if len(value) > 200 else "") if shown else "(none)"
