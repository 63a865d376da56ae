"""The `inference` part of a project definition: its frozen values, parsed from JSON."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal, cast, get_args

from chalicelib.errors import InvalidDefinition
from chalicelib.fields import Fields, integral

PostprocessKind = Literal[
    "linear_learner", "kmeans", "classifier", "binary", "multiclass", "regression", "raw"
]
TextRepresentation = Literal["bag_of_words", "raw"]
Stemmer = Literal["none", "porter", "nltk_porter"]
TextSplit = Literal["none", "line"]
ResizeFilter = Literal["nearest", "box", "bilinear", "bicubic", "lanczos"]
JsonLayout = Literal["list", "instances", "features", "inputs"]
ModelOutputs = Literal["auto", "logits", "probabilities"]
InputKind = Literal["image", "array", "text"]


@dataclass(frozen=True)
class Normalization:
    """(value [inverted] / scale - mean) / std, for one kind of input."""

    scale: float = 1.0
    mean: float = 0.0
    std: float = 1.0
    invert: bool = False


@dataclass(frozen=True)
class TextSpec:
    """How a text becomes the model's input: cleaned words counted over a vocabulary, or the
    text itself for a model that takes text."""

    representation: TextRepresentation = "bag_of_words"
    vocabulary: str | None = None
    strip_html: bool = True
    lowercase: bool = True
    stop_words: bool = False
    stemmer: Stemmer = "none"
    split: TextSplit = "none"


@dataclass(frozen=True)
class InputSpec:
    """How a raw input becomes the model's features (the serving-side preprocessing).

    `shape` is empty only for text over a vocabulary: the vocabulary's size is the shape. The
    top-level normalization applies to images and feature rows alike unless `image` or
    `features` gives that kind its own."""

    shape: tuple[int, ...]
    scale: float = 1.0
    mean: float = 0.0
    std: float = 1.0
    flatten: bool = True
    channel_first: bool = False
    invert: bool = False
    resize_filter: ResizeFilter = "box"
    image: Normalization | None = None
    features: Normalization | None = None
    text: TextSpec | None = None

    def normalization(self, kind: InputKind) -> Normalization:
        """How inputs of this kind are normalized."""
        own = self.image if kind == "image" else self.features if kind == "array" else None
        if own is not None:
            return own
        if kind == "text":
            return Normalization()
        return Normalization(self.scale, self.mean, self.std, self.invert)


@dataclass(frozen=True)
class RequestSpec:
    content_type: str = "text/csv"
    json_layout: JsonLayout = "list"


@dataclass(frozen=True)
class ResponseSpec:
    accept: str = "application/json"
    postprocess: PostprocessKind = "raw"
    outputs: ModelOutputs = "auto"
    labels: tuple[str, ...] | None = None
    # A binary model's probability at or above which the answer is the positive label.
    threshold: float = 0.5


@dataclass(frozen=True)
class InferenceSpec:
    input: InputSpec
    request: RequestSpec = field(default_factory=RequestSpec)
    response: ResponseSpec = field(default_factory=ResponseSpec)


REQUEST_CONTENT_TYPES = (
    "text/csv",
    "application/json",
    "application/x-npy",
    "application/x-recordio-protobuf",
)
RESPONSE_CONTENT_TYPES = ("application/json", "text/csv", "application/x-npy")
VOCABULARY_URI = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[\x20-\x7e]{1,1024}")
MAX_FEATURES = 1_000_000
# One dimension of a model's input: a feature vector of up to 100,000 values (a vocabulary).
MAX_DIMENSION = 100_000
MAX_LABELS = 10_000
NORMALIZATION_FIELDS = ("scale", "mean", "std", "invert")
TEXT_FIELDS = (
    "representation",
    "vocabulary",
    "strip_html",
    "lowercase",
    "stop_words",
    "stemmer",
    "split",
)


def parse_inference(fields: Fields) -> InferenceSpec:
    spec = InferenceSpec(
        input=_input(
            fields.obj(
                "input",
                (
                    "shape",
                    "scale",
                    "mean",
                    "std",
                    "flatten",
                    "channel_first",
                    "invert",
                    "resize_filter",
                    "image",
                    "features",
                    "text",
                ),
                True,
            )
        ),
        request=_request(fields.obj("request", ("content_type", "json_layout"))),
        response=_response(
            fields.obj("response", ("accept", "postprocess", "outputs", "labels", "threshold"))
        ),
    )
    text = spec.input.text
    raw_text = text is not None and text.representation == "raw"
    if raw_text and spec.request.content_type != "application/json":
        raise InvalidDefinition(
            "inference.request.content_type", "must be application/json for raw text"
        )
    return spec


def _input(fields: Fields) -> InputSpec:
    text = _text(fields.obj("text", TEXT_FIELDS)) if fields.has("text") else None
    dims = fields.items("shape", 3)
    if not dims and text is None:
        raise InvalidDefinition(fields.path("shape"), "is required: 1 to 3 positive integers")
    shape = []
    for path, value in dims:
        dim = integral(value)
        if dim is None or not 1 <= dim <= MAX_DIMENSION:
            raise InvalidDefinition(path, f"must be an integer between 1 and {MAX_DIMENSION}")
        shape.append(dim)
    if math.prod(shape) > MAX_FEATURES:
        raise InvalidDefinition(fields.path("shape"), f"must hold at most {MAX_FEATURES} values")
    return InputSpec(
        shape=tuple(shape),
        scale=fields.number("scale", 1.0, minimum=1e-3, maximum=1e6),
        mean=fields.number("mean", 0.0, minimum=-1e6, maximum=1e6),
        std=fields.number("std", 1.0, minimum=1e-6, maximum=1e6),
        flatten=fields.boolean("flatten", True),
        channel_first=fields.boolean("channel_first", False),
        invert=fields.boolean("invert", False),
        resize_filter=cast(
            ResizeFilter, fields.choice("resize_filter", get_args(ResizeFilter), "box")
        ),
        image=_normalization(fields.obj("image", NORMALIZATION_FIELDS))
        if fields.has("image")
        else None,
        features=_normalization(fields.obj("features", NORMALIZATION_FIELDS))
        if fields.has("features")
        else None,
        text=text,
    )


def _normalization(fields: Fields) -> Normalization:
    return Normalization(
        scale=fields.number("scale", 1.0, minimum=1e-3, maximum=1e6),
        mean=fields.number("mean", 0.0, minimum=-1e6, maximum=1e6),
        std=fields.number("std", 1.0, minimum=1e-6, maximum=1e6),
        invert=fields.boolean("invert", False),
    )


def _text(fields: Fields) -> TextSpec:
    representation = cast(
        TextRepresentation,
        fields.choice("representation", get_args(TextRepresentation), "bag_of_words"),
    )
    vocabulary = fields.optional_string("vocabulary", VOCABULARY_URI)
    if representation == "bag_of_words" and vocabulary is None:
        raise InvalidDefinition(fields.path("vocabulary"), "is required for a bag of words")
    if representation == "raw" and vocabulary is not None:
        raise InvalidDefinition(fields.path("vocabulary"), "is only for a bag of words")
    return TextSpec(
        representation=representation,
        vocabulary=vocabulary,
        strip_html=fields.boolean("strip_html", True),
        lowercase=fields.boolean("lowercase", True),
        stop_words=fields.boolean("stop_words", False),
        stemmer=cast(Stemmer, fields.choice("stemmer", get_args(Stemmer), "none")),
        split=cast(TextSplit, fields.choice("split", get_args(TextSplit), "none")),
    )


def _request(fields: Fields) -> RequestSpec:
    return RequestSpec(
        content_type=fields.choice("content_type", REQUEST_CONTENT_TYPES, "text/csv"),
        json_layout=cast(JsonLayout, fields.choice("json_layout", get_args(JsonLayout), "list")),
    )


def _response(fields: Fields) -> ResponseSpec:
    labels: list[str] = []
    for path, label in fields.items("labels", MAX_LABELS):
        if not isinstance(label, str) or not 1 <= len(label) <= 256:
            raise InvalidDefinition(path, "must be a string of 1 to 256 characters")
        labels.append(label)
    postprocess = cast(
        PostprocessKind, fields.choice("postprocess", get_args(PostprocessKind), "raw")
    )
    if postprocess == "binary" and labels and len(labels) != 2:
        raise InvalidDefinition(fields.path("labels"), "must name the negative and positive class")
    return ResponseSpec(
        accept=fields.choice("accept", RESPONSE_CONTENT_TYPES, "application/json"),
        postprocess=postprocess,
        outputs=cast(ModelOutputs, fields.choice("outputs", get_args(ModelOutputs), "auto")),
        labels=tuple(labels) if labels else None,
        threshold=fields.number("threshold", 0.5, exclusive_minimum=0.0, maximum=1.0),
    )
