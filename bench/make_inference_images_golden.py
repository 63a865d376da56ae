"""Writes tests/unit/data/inference_images.json (in the bench venv): for deep learning container
training images, the inference image the SageMaker Python SDK's `image_uris.retrieve` gives for
the same framework version on a CPU and on a GPU instance type. Run it with
`.venv-bench/bin/python -m bench.make_inference_images_golden`."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

import sagemaker  # type: ignore[import-not-found]
from sagemaker import image_uris

DATA = Path(__file__).resolve().parent.parent / "tests" / "unit" / "data"
REGION = "us-east-1"
# (framework, version, py_version, base_framework_version or None); the training images of
# HuggingFace are GPU only, so their cases start from a GPU training image.
FRAMEWORKS = (
    ("pytorch", "1.13", "py39", None),
    ("pytorch", "2.1", "py310", None),
    ("pytorch", "2.3", "py311", None),
    ("tensorflow", "2.13", "py310", None),
    ("tensorflow", "2.14", "py310", None),
    ("mxnet", "1.9", "py38", None),
    ("huggingface", "4.17", "py38", "pytorch1.10"),
    ("huggingface", "4.17", "py38", "tensorflow2.6"),
    ("huggingface", "4.26", "py39", "pytorch1.13"),
    ("huggingface", "4.28", "py310", "pytorch2.0"),
)
TRAINED_ON = ("ml.m5.xlarge", "ml.p3.2xlarge")
SERVED_ON = ("ml.m5.large", "ml.c5.xlarge", "ml.g4dn.xlarge", "ml.g5.xlarge", "ml.p3.2xlarge")


def _image(framework: str, version: str, py: str, base: str | None, it: str, scope: str) -> str:
    extra = {} if base is None else {"base_framework_version": base}
    return str(
        image_uris.retrieve(
            framework, REGION, version=version, py_version=py, instance_type=it,
            image_scope=scope, **extra,
        )
    )  # fmt: skip


def cases() -> list[dict[str, str]]:
    rows = []
    for framework, version, py, base in FRAMEWORKS:
        for trained_on in TRAINED_ON:
            try:
                training = _image(framework, version, py, base, trained_on, "training")
            except ValueError:  # e.g. no CPU training image (HuggingFace)
                continue
            for served_on in SERVED_ON:
                rows.append(
                    {
                        "training_image": training,
                        "instance_type": served_on,
                        "inference_image": _image(
                            framework, version, py, base, served_on, "inference"
                        ),
                    }
                )
    return rows


def main() -> None:
    document = {
        "generated_by": "bench/make_inference_images_golden.py",
        "sagemaker_sdk_version": sagemaker.__version__,
        "command": ".venv-bench/bin/python -m bench.make_inference_images_golden",
        "cases": cases(),
    }
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / "inference_images.json"
    path.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {len(document['cases'])} cases to {path}")


if __name__ == "__main__":
    main()
