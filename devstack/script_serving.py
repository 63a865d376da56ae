"""Framework models served as the SageMaker inference toolkits serve them: the user's handlers."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

# The environment a framework model's container needs to find the user's code.
PROGRAM_ENV = "SAGEMAKER_PROGRAM"
SUBMIT_DIRECTORY_ENV = "SAGEMAKER_SUBMIT_DIRECTORY"
CONTENT_TYPES = ("application/json", "text/csv", "application/x-npy")


class UnsupportedType(ValueError):
    """A content type or accept type the default handlers do not speak (the container's 415)."""


class HandlerError(ValueError):
    """The user's code failed: what the container answers with a 500."""


def default_input_fn(body: bytes, content_type: str) -> Any:
    """JSON, CSV or .npy to a numpy array, as the toolkit's default decoder does."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json":
        return np.array(json.loads(body))
    if media == "text/csv":
        return np.loadtxt(io.StringIO(body.decode()), delimiter=",", ndmin=2)
    if media == "application/x-npy":
        return np.load(io.BytesIO(body), allow_pickle=False)
    raise UnsupportedType(f"content type {media} is not supported by the default input_fn")


def default_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    """A prediction in the accept type (JSON when the client accepts anything)."""
    media = accept.split(";", 1)[0].strip().lower()
    if media in ("", "*/*"):
        media = "application/json"
    values = np.asarray(prediction)
    if media == "application/json":
        return json.dumps(values.tolist()).encode(), media
    if media == "text/csv":
        rows = values.reshape(len(values), -1) if values.ndim else values.reshape(1, 1)
        lines = [",".join(repr(item) for item in row.tolist()) for row in rows]
        return ("\n".join(lines) + "\n").encode(), media
    if media == "application/x-npy":
        buffer = io.BytesIO()
        np.save(buffer, values, allow_pickle=False)
        return buffer.getvalue(), media
    raise UnsupportedType(f"accept type {media} is not supported by the default output_fn")


@dataclass(frozen=True)
class ScriptModel:
    """A loaded model and the handlers that serve it, the user's where the program has them."""

    model: Any
    input_fn: Callable[[bytes, str], Any]
    predict_fn: Callable[[Any, Any], Any]
    output_fn: Callable[[Any, str], Any]

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        try:
            data = self.input_fn(body, content_type)
            prediction = self.predict_fn(data, self.model)
            answer = self.output_fn(prediction, accept)
        except UnsupportedType:
            raise
        except Exception as error:
            raise HandlerError(f"{type(error).__name__}: {error}") from None
        if isinstance(answer, tuple):
            encoded, media = answer
        else:
            encoded, media = answer, accept
        return (encoded.encode() if isinstance(encoded, str) else bytes(encoded)), media


def _import(program: Path) -> ModuleType:
    """The entry point as a module of its own name space, so that two models' `train.py`
    never share one."""
    name = f"sagewire_model_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, program)
    if spec is None or spec.loader is None:
        raise HandlerError(f"cannot import {program.name}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(program.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise HandlerError(f"importing {program.name}: {type(error).__name__}: {error}") from None
    finally:
        sys.path.remove(str(program.parent))
    return module


def _default_predict_fn(data: Any, model: Any) -> Any:
    return model.predict(data)


def load(model_dir: Path, code_dir: Path, program: str) -> ScriptModel:
    """The program's `model_fn` loads the model (the scikit-learn container has no default);
    `input_fn`, `predict_fn` and `output_fn` default to the toolkit's."""
    entry = code_dir / program
    if not entry.is_file():
        raise HandlerError(f"{PROGRAM_ENV} {program!r} is not in the submitted code")
    module = _import(entry)
    model_fn = getattr(module, "model_fn", None)
    if model_fn is None:
        raise HandlerError(f"{program} has no model_fn: the container cannot load the model")
    try:
        model = model_fn(str(model_dir))
    except Exception as error:
        raise HandlerError(f"model_fn: {type(error).__name__}: {error}") from None
    return ScriptModel(
        model=model,
        input_fn=getattr(module, "input_fn", default_input_fn),
        predict_fn=getattr(module, "predict_fn", _default_predict_fn),
        output_fn=getattr(module, "output_fn", default_output_fn),
    )
