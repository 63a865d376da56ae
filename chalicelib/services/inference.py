"""Raw input to predictions: decode, preprocess, serialize, invoke, postprocess."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from chalicelib.definitions import SAGEMAKER_NAME
from chalicelib.errors import InvalidParameter, InvalidVocabulary, UnsupportedMediaType
from chalicelib.inference_spec import InputSpec
from chalicelib.models import Caller, FloatArray, PredictionResult, Project, RawInput
from chalicelib.processing.codecs import (
    Chunk,
    deserialize_response,
    serialize_chunks,
    text_chunks,
)
from chalicelib.processing.decode import DEFAULT_LIMITS, DecodeLimits, decode
from chalicelib.processing.postprocess import postprocess
from chalicelib.processing.preprocess import preprocess, target_size
from chalicelib.processing.text import Vocabulary, bag_of_words, split_texts
from chalicelib.services.ports import NO_METRICS, EndpointInvoker, MetricsSink, VocabularySource
from chalicelib.services.projects import ProjectService, project_not_found

MAX_TOP_K = 100
logger = logging.getLogger("sagewire")


def require_access(caller: Caller, project: Project) -> None:
    """Cognito groups and API keys are per project; IAM callers were authorized by API Gateway
    on the route's resource ARN, which names the project. A refused caller gets the very answer
    of an absent project, so that it cannot learn which project names exist."""
    if caller.kind == "cognito":
        allowed = not caller.groups.isdisjoint(project.access.groups)
    elif caller.kind == "api_key":
        allowed = caller.principal in project.access.api_keys
    else:
        allowed = True
    if not allowed:
        logger.info("prediction refused: the project does not admit this %s caller", caller.kind)
        raise project_not_found(project.name)


def _check_options(variant: str | None, top_k: int | None) -> None:
    """The one check of a prediction's options, whoever asks (HTTP, batch), before any work."""
    if variant is not None and not SAGEMAKER_NAME.fullmatch(variant):
        raise InvalidParameter("variant must be a SageMaker production variant name")
    if top_k is not None and not 1 <= top_k <= MAX_TOP_K:
        raise InvalidParameter(f"top_k must be an integer from 1 to {MAX_TOP_K}")


class InferenceService:
    def __init__(
        self,
        projects: ProjectService,
        runtime: EndpointInvoker,
        max_invoke_bytes: int,
        limits: DecodeLimits = DEFAULT_LIMITS,
        metrics: MetricsSink = NO_METRICS,
        timer: Callable[[], float] = time.perf_counter,
        vocabularies: VocabularySource | None = None,
    ) -> None:
        self._projects = projects
        self._vocabularies = vocabularies
        self._runtime = runtime
        self._max_invoke_bytes = max_invoke_bytes
        self._limits = limits
        self._metrics = metrics
        self._timer = timer

    def predict(
        self,
        project_name: str,
        body: bytes,
        content_type: str,
        caller: Caller,
        variant: str | None = None,
        top_k: int | None = None,
    ) -> PredictionResult:
        """A served prediction records its latency: in all, in decoding, preprocessing and
        serializing, and in InvokeEndpoint."""
        started = self._timer()
        _check_options(variant, top_k)
        project = self._projects.get(project_name)
        require_access(caller, project)
        preparing = self._timer()
        inputs = decode(body, content_type, self._limits, target_size(project.inference.input))
        chunks = self._prepared(project, inputs)
        invoking = self._timer()
        result, invoke_seconds = self._invoke(project, chunks, variant, top_k)
        self._metrics.milliseconds("PreprocessLatency", (invoking - preparing) * 1000)
        self._metrics.milliseconds("ModelLatency", invoke_seconds * 1000)
        self._metrics.milliseconds("PredictionLatency", (self._timer() - started) * 1000)
        return result

    def predict_features(
        self,
        project: Project,
        features: FloatArray,
        variant: str | None = None,
        top_k: int | None = None,
    ) -> PredictionResult:
        """A preprocessed batch, serialized in chunks that fit InvokeEndpoint, in order."""
        _check_options(variant, top_k)
        result, _ = self._invoke(project, self._chunks(project, features), variant, top_k)
        return result

    def preprocess(self, project: Project, inputs: Sequence[RawInput]) -> FloatArray:
        """Images and arrays as the project's model takes them (a text project's arrays are as
        wide as its vocabulary when it names no shape)."""
        return preprocess(inputs, self._input_spec(project.inference.input))

    def _prepared(self, project: Project, inputs: Sequence[RawInput]) -> list[Chunk]:
        """The request bodies for decoded inputs: texts cleaned and counted over the
        vocabulary (or passed as they are), anything else preprocessed."""
        spec = project.inference.input
        if inputs[0].kind != "text":
            return self._chunks(project, self.preprocess(project, inputs))
        text = spec.text
        if text is None:
            raise UnsupportedMediaType(
                f"project {project.name} takes no text; send images or numeric rows"
            )
        texts = split_texts([raw.text for raw in inputs], text, self._limits.max_rows)
        if text.representation == "raw":
            request = project.inference.request
            return text_chunks(texts, request.json_layout, self._max_invoke_bytes)
        vocabulary = self._vocabulary(spec)
        width = math.prod(spec.shape) if spec.shape else vocabulary.size
        limits = self._limits
        features = bag_of_words(
            texts, text, vocabulary, width, limits.max_words, limits.max_elements
        )
        return self._chunks(project, features)

    def _vocabulary(self, spec: InputSpec) -> Vocabulary:
        uri = spec.text.vocabulary if spec.text is not None else None
        if uri is None or self._vocabularies is None:
            raise InvalidVocabulary("the project names no vocabulary this function can read")
        return self._vocabularies.get(uri)

    def _input_spec(self, spec: InputSpec) -> InputSpec:
        if spec.shape:
            return spec
        if spec.text is not None and spec.text.representation == "raw":
            raise UnsupportedMediaType(
                'this project\'s model takes text: send text/plain or {"text": ...}'
            )
        return replace(spec, shape=(self._vocabulary(spec).size,))

    def _chunks(self, project: Project, features: FloatArray) -> list[Chunk]:
        request = project.inference.request
        return serialize_chunks(
            features, request.content_type, request.json_layout, self._max_invoke_bytes
        )

    def _invoke(
        self, project: Project, chunks: list[Chunk], variant: str | None, top_k: int | None
    ) -> tuple[PredictionResult, float]:
        """The predictions, and the seconds spent waiting for InvokeEndpoint."""
        spec = project.inference
        predictions = []
        waited = 0.0
        for chunk in chunks:
            called = self._timer()
            invocation = self._runtime.invoke(
                project.endpoint.name,
                chunk.body,
                spec.request.content_type,
                spec.response.accept,
                variant,
            )
            waited += self._timer() - called
            # Later chunks of one request go to the variant that answered the first one.
            variant = invocation.variant or variant
            response = deserialize_response(invocation.body, invocation.content_type)
            predictions.extend(postprocess(response, spec.response, chunk.rows, top_k))
        result = PredictionResult(
            project=project.name,
            endpoint=project.endpoint.name,
            variant=variant,
            predictions=predictions,
        )
        return result, waited
