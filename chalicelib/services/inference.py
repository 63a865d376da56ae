"""Raw input to predictions: decode, preprocess, serialize, invoke, postprocess."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.definitions import SAGEMAKER_NAME
from chalicelib.errors import Forbidden, InvalidParameter
from chalicelib.models import Caller, FloatArray, PredictionResult, Project, RawInput
from chalicelib.processing.codecs import deserialize_response, serialize_chunks
from chalicelib.processing.decode import DEFAULT_LIMITS, DecodeLimits, decode
from chalicelib.processing.postprocess import postprocess
from chalicelib.processing.preprocess import preprocess
from chalicelib.services.ports import EndpointInvoker
from chalicelib.services.projects import ProjectService

MAX_TOP_K = 100


def require_access(caller: Caller, project: Project) -> None:
    """Cognito groups and API keys are per project; IAM callers were authorized by API Gateway
    on the route's resource ARN, which names the project."""
    if caller.kind == "cognito":
        allowed = not caller.groups.isdisjoint(project.access.groups)
    elif caller.kind == "api_key":
        allowed = caller.principal in project.access.api_keys
    else:
        allowed = True
    if not allowed:
        raise Forbidden(f"this caller may not use project {project.name!r}")


class InferenceService:
    def __init__(
        self,
        projects: ProjectService,
        runtime: EndpointInvoker,
        max_invoke_bytes: int,
        limits: DecodeLimits = DEFAULT_LIMITS,
    ) -> None:
        self._projects = projects
        self._runtime = runtime
        self._max_invoke_bytes = max_invoke_bytes
        self._limits = limits

    def predict(
        self,
        project_name: str,
        body: bytes,
        content_type: str,
        caller: Caller,
        variant: str | None = None,
        top_k: int | None = None,
    ) -> PredictionResult:
        if variant is not None and not SAGEMAKER_NAME.fullmatch(variant):
            raise InvalidParameter("variant must be a SageMaker production variant name")
        if top_k is not None and not 1 <= top_k <= MAX_TOP_K:
            raise InvalidParameter(f"top_k must be between 1 and {MAX_TOP_K}")
        project = self._projects.get(project_name)
        require_access(caller, project)
        return self.predict_inputs(
            project, decode(body, content_type, self._limits), variant, top_k
        )

    def predict_inputs(
        self,
        project: Project,
        inputs: Sequence[RawInput],
        variant: str | None = None,
        top_k: int | None = None,
    ) -> PredictionResult:
        """Decoded inputs to predictions: the path shared by HTTP and batch predictions."""
        return self.predict_features(
            project, preprocess(inputs, project.inference.input), variant, top_k
        )

    def predict_features(
        self,
        project: Project,
        features: FloatArray,
        variant: str | None = None,
        top_k: int | None = None,
    ) -> PredictionResult:
        """A preprocessed batch, serialized in chunks that fit InvokeEndpoint, in order."""
        spec = project.inference
        chunks = serialize_chunks(
            features, spec.request.content_type, spec.request.json_layout, self._max_invoke_bytes
        )
        predictions = []
        for chunk in chunks:
            invocation = self._runtime.invoke(
                project.endpoint.name,
                chunk.body,
                spec.request.content_type,
                spec.response.accept,
                variant,
            )
            # Later chunks of one request go to the variant that answered the first one.
            variant = invocation.variant or variant
            response = deserialize_response(invocation.body, invocation.content_type)
            predictions.extend(postprocess(response, spec.response, chunk.rows, top_k))
        return PredictionResult(
            project=project.name,
            endpoint=project.endpoint.name,
            variant=variant,
            predictions=predictions,
        )
