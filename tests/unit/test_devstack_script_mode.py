"""Script mode: a scikit-learn entry point trained and served as SageMaker's toolkits do it."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws
from sklearn.datasets import load_digits

from devstack import script_mode, script_serving
from devstack.script_mode import ScriptClientError, ScriptError, ScriptJob
from tests.factories import tar_gz

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

BUCKET = "sagemaker-us-east-1-123456789012"
EXAMPLE = Path(__file__).parents[2] / "devstack" / "examples" / "sklearn_digits" / "train.py"
METRICS = [("validation:accuracy", r"validation:accuracy=([0-9.]+)")]


def csv(x: Any, y: Any) -> bytes:
    return "\n".join(
        ",".join([str(int(label)), *(f"{v:g}" for v in row)])
        for row, label in zip(x, y, strict=True)
    ).encode()


@pytest.fixture
def s3() -> Iterator[S3Client]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        digits = load_digits()
        x, y = digits.data, digits.target
        client.put_object(Bucket=BUCKET, Key="digits/train/train.csv", Body=csv(x[:1400], y[:1400]))
        client.put_object(
            Bucket=BUCKET, Key="digits/validation/validation.csv", Body=csv(x[1400:], y[1400:])
        )
        client.put_object(
            Bucket=BUCKET,
            Key="code/sourcedir.tar.gz",
            Body=tar_gz({"train.py": EXAMPLE.read_bytes()}),
        )
        yield client


def job(**changes: Any) -> ScriptJob:
    # As the SageMaker Python SDK sends them: every value JSON-encoded.
    hyperparameters = {
        "n-estimators": "50",
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": f'"s3://{BUCKET}/code/sourcedir.tar.gz"',
        "sagemaker_region": '"us-east-1"',
    }
    base: dict[str, Any] = {
        "name": "sklearn-digits-1",
        "hyperparameters": hyperparameters,
        "channels": {
            "train": f"s3://{BUCKET}/digits/train",
            "validation": f"s3://{BUCKET}/digits/validation",
        },
        "metric_definitions": METRICS,
        "output_path": f"s3://{BUCKET}/output",
    }
    return ScriptJob(**(base | changes))


def test_a_scikit_learn_job_trains_reports_its_metric_and_serves(
    s3: S3Client, tmp_path: Path
) -> None:
    result = script_mode.run(job(), s3, tmp_path / "job")

    assert result.model_data_url == (f"s3://{BUCKET}/output/sklearn-digits-1/output/model.tar.gz")
    assert result.metrics["validation:accuracy"] > 0.85
    artifact = s3.get_object(Bucket=BUCKET, Key="output/sklearn-digits-1/output/model.tar.gz")
    model_dir = tmp_path / "model"
    with tarfile.open(fileobj=io.BytesIO(artifact["Body"].read())) as tar:
        assert tar.getnames() == ["model.joblib"]
        tar.extractall(model_dir, filter="data")

    served = script_serving.load(model_dir, tmp_path / "job" / "code", "train.py")
    digits = load_digits()
    rows = "\n".join(",".join(f"{v:g}" for v in row) for row in digits.data[-20:])
    body, media = served.invoke(rows.encode(), "text/csv", "application/json")

    assert media == "application/json"
    predicted = json.loads(body)
    assert len(predicted) == 20
    assert np.mean(np.array(predicted) == digits.target[-20:]) >= 0.8


def test_the_script_sees_the_toolkits_environment_and_arguments(
    s3: S3Client, tmp_path: Path
) -> None:
    probe = (
        "import json, os, sys\n"
        "print('ARGS=' + json.dumps(sys.argv[1:]))\n"
        "print('ENV=' + json.dumps({k: v for k, v in os.environ.items() if k.startswith('SM_')}))\n"
        "open(os.path.join(os.environ['SM_MODEL_DIR'], 'm.txt'), 'w').write('x')\n"
    )
    s3.put_object(Bucket=BUCKET, Key="code/probe.tar.gz", Body=tar_gz({"probe.py": probe.encode()}))
    hyperparameters = {
        "epochs": "3",
        "lr": "0.01",
        "backend": '"gloo"',
        "sagemaker_program": '"probe.py"',
        "sagemaker_submit_directory": f'"s3://{BUCKET}/code/probe.tar.gz"',
    }

    result = script_mode.run(job(hyperparameters=hyperparameters), s3, tmp_path / "job")

    args = json.loads(result.output.split("ARGS=", 1)[1].splitlines()[0])
    env = json.loads(result.output.split("ENV=", 1)[1].splitlines()[0])
    assert args == ["--backend", "gloo", "--epochs", "3", "--lr", "0.01"]
    assert json.loads(env["SM_HPS"]) == {"backend": "gloo", "epochs": 3, "lr": 0.01}
    assert json.loads(env["SM_CHANNELS"]) == ["train", "validation"]
    assert env["SM_CHANNEL_TRAIN"].endswith("input/data/train")
    assert (Path(env["SM_CHANNEL_TRAIN"]) / "train.csv").is_file()
    assert env["SM_HP_EPOCHS"] == "3"
    assert env["SM_HP_BACKEND"] == "gloo"
    assert env["SM_USER_ENTRY_POINT"] == "probe.py"
    assert env["SM_NUM_GPUS"] == "0"


def test_a_failing_script_fails_the_job_with_its_exit_code_and_error(
    s3: S3Client, tmp_path: Path
) -> None:
    failing = b"raise SystemExit('the data has no label column')\n"
    s3.put_object(Bucket=BUCKET, Key="code/fail.tar.gz", Body=tar_gz({"fail.py": failing}))
    hyperparameters = {
        "sagemaker_program": '"fail.py"',
        "sagemaker_submit_directory": f'"s3://{BUCKET}/code/fail.tar.gz"',
    }

    with pytest.raises(ScriptError) as raised:
        script_mode.run(job(hyperparameters=hyperparameters), s3, tmp_path / "job")

    reason = str(raised.value)
    assert reason.startswith("ExecuteUserScriptError:\nExitCode 1\n")
    assert "the data has no label column" in reason


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"sagemaker_program": '"train.py"'}, "are required"),
        (
            {
                "sagemaker_program": '"missing.py"',
                "sagemaker_submit_directory": f'"s3://{BUCKET}/code/sourcedir.tar.gz"',
            },
            "missing.py is not in",
        ),
        (
            {
                "sagemaker_program": '"train.py"',
                "sagemaker_submit_directory": f'"s3://{BUCKET}/code/absent.tar.gz"',
            },
            "cannot read",
        ),
    ],
)
def test_a_job_sagemaker_could_not_start_fails_with_a_client_error(
    s3: S3Client, tmp_path: Path, hyperparameters: dict[str, str], message: str
) -> None:
    with pytest.raises(ScriptClientError, match=message):
        script_mode.run(job(hyperparameters=hyperparameters), s3, tmp_path / "job")


def test_a_model_without_model_fn_cannot_be_served(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text("print('trained')\n")

    with pytest.raises(script_serving.HandlerError, match="no model_fn"):
        script_serving.load(tmp_path, tmp_path / "code", "train.py")


def test_final_metrics_are_the_last_value_each_regex_found() -> None:
    output = "epoch 1 loss=0.9\nepoch 2 loss=0.5\nvalidation acc: 0.93\nloss=nan-ish\n"
    definitions = [("train:loss", r"loss=([0-9.]+)"), ("validation:acc", r"acc: ([0-9.]+)")]

    assert script_mode.final_metrics(definitions, output) == {
        "train:loss": 0.5,
        "validation:acc": 0.93,
    }


@given(
    st.dictionaries(
        st.text(alphabet="abcdefghij_-", min_size=1, max_size=8),
        st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=8), st.booleans()),
        max_size=6,
    )
)
def test_hyperparameters_round_trip_as_the_sdk_encodes_them(values: dict[str, Any]) -> None:
    encoded = {name: json.dumps(value) for name, value in values.items()}

    assert script_mode.decoded(encoded) == values
    arguments = script_mode.command_arguments(values)
    assert arguments[::2] == [f"--{n}" if len(n) > 1 else f"-{n}" for n in sorted(values)]
    assert arguments[1::2] == [str(values[name]) for name in sorted(values)]
