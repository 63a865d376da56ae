"""Script mode: a framework job's entry point run as the SageMaker training toolkit runs it."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

PROGRAM = "sagemaker_program"
SUBMIT_DIRECTORY = "sagemaker_submit_directory"
# The toolkit hands these to itself, not to the script (sagemaker_training.params).
_SAGEMAKER_PREFIX = "sagemaker_"
_HOST = "algo-1"
# The tail of a failed script's output quoted in the job's FailureReason, as SageMaker does.
_FAILURE_TAIL_CHARS = 800


class ScriptError(ValueError):
    """The script failed: an AlgorithmError FailureReason."""


class ScriptClientError(ScriptError):
    """The job could not run the script (code, data, arguments): a ClientError FailureReason."""


@dataclass(frozen=True)
class ScriptJob:
    """What CreateTrainingJob says of a script-mode job."""

    name: str
    # As the request carries them: the SageMaker Python SDK JSON-encodes every value.
    hyperparameters: Mapping[str, str]
    # Channel name -> S3 prefix (S3DataType S3Prefix).
    channels: Mapping[str, str]
    # MetricDefinitions: (Name, Regex) over the script's output.
    metric_definitions: Sequence[tuple[str, str]]
    output_path: str
    max_runtime_seconds: int = 24 * 3600


@dataclass(frozen=True)
class ScriptResult:
    model_data_url: str
    metrics: dict[str, float]
    output: str


def is_script_job(hyperparameters: Mapping[str, str]) -> bool:
    return PROGRAM in hyperparameters and SUBMIT_DIRECTORY in hyperparameters


def decoded(hyperparameters: Mapping[str, str]) -> dict[str, Any]:
    """Each value JSON-decoded where it is JSON, else the string itself (the toolkit's rule)."""
    values: dict[str, Any] = {}
    for name, value in hyperparameters.items():
        try:
            values[name] = json.loads(value)
        except ValueError:
            values[name] = value
    return values


def command_arguments(hyperparameters: Mapping[str, Any]) -> list[str]:
    """`--name value` per hyperparameter, sorted by name, as the toolkit's `to_cmd_args`."""
    arguments: list[str] = []
    for name in sorted(hyperparameters):
        value = hyperparameters[name]
        if isinstance(value, Mapping):
            value = ",".join(f"{key}={item}" for key, item in sorted(value.items()))
        arguments += [f"--{name}" if len(name) > 1 else f"-{name}", str(value)]
    return arguments


def _env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def environment(
    job: ScriptJob, root: Path, hyperparameters: Mapping[str, Any], program: str
) -> dict[str, str]:
    """The SM_* variables the toolkit sets, for a single host with no GPU."""
    channels = sorted(job.channels)
    arguments = command_arguments(hyperparameters)
    variables = {
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "SM_OUTPUT_INTERMEDIATE_DIR": str(root / "output" / "intermediate"),
        "SM_INPUT_DIR": str(root / "input"),
        "SM_INPUT_CONFIG_DIR": str(root / "input" / "config"),
        "SM_CHANNELS": json.dumps(channels),
        "SM_HPS": json.dumps(dict(hyperparameters), sort_keys=True),
        "SM_CURRENT_HOST": _HOST,
        "SM_HOSTS": json.dumps([_HOST]),
        "SM_NUM_GPUS": "0",
        "SM_NUM_CPUS": str(os.cpu_count() or 1),
        "SM_USER_ARGS": json.dumps(arguments),
        "SM_USER_ENTRY_POINT": program,
        "SM_MODULE_NAME": program.removesuffix(".py"),
        "SM_MODULE_DIR": job.hyperparameters.get(SUBMIT_DIRECTORY, "").strip('"'),
        "SM_LOG_LEVEL": "20",
        "TRAINING_JOB_NAME": job.name,
    }
    for channel in channels:
        variables[f"SM_CHANNEL_{channel.upper()}"] = str(root / "input" / "data" / channel)
    for name, value in hyperparameters.items():
        variables[f"SM_HP_{name.upper()}"] = _env_value(value)
    return variables


def _s3_location(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket:
        raise ScriptClientError(f"{uri!r} is not an s3:// URI")
    return bucket, key


def _extract(archive: bytes, into: Path, what: str) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise ScriptClientError(f"{what} is not a readable tar.gz: {error}") from None


def _download_channel(s3: S3Client, uri: str, into: Path) -> None:
    bucket, prefix = _s3_location(uri)
    found = False
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :].lstrip("/") or Path(item["Key"]).name
            target = (into / relative).resolve()
            if into.resolve() not in target.parents:
                continue  # a key that would land outside the channel's directory
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(target))
            found = True
    if not found:
        raise ScriptClientError(f"no objects under the channel's S3 prefix {uri}")


def _pack(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(directory)), recursive=False)
    return buffer.getvalue()


def final_metrics(definitions: Sequence[tuple[str, str]], output: str) -> dict[str, float]:
    """Each metric's last value in the output: what FinalMetricDataList reports."""
    metrics: dict[str, float] = {}
    for name, regex in definitions:
        for match in re.finditer(regex, output):
            try:
                metrics[name] = float(match.group(1) if match.groups() else match.group(0))
            except ValueError:
                continue
    return metrics


def run(job: ScriptJob, s3: S3Client, root: Path) -> ScriptResult:
    """Downloads code and channels under `root`, runs the entry point with the local
    interpreter, and uploads `<output_path>/<job>/output/model.tar.gz` from SM_MODEL_DIR."""
    values = decoded(job.hyperparameters)
    program, submitted = str(values.get(PROGRAM, "")), str(values.get(SUBMIT_DIRECTORY, ""))
    if not program or not submitted:
        raise ScriptClientError(f"{PROGRAM} and {SUBMIT_DIRECTORY} are required")
    user = {k: v for k, v in values.items() if not k.startswith(_SAGEMAKER_PREFIX)}
    code = root / "code"
    for directory in (code, root / "model", root / "output" / "data", root / "input" / "config"):
        directory.mkdir(parents=True, exist_ok=True)
    bucket, key = _s3_location(submitted)
    try:
        archive = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.ClientError as error:
        raise ScriptClientError(f"cannot read {submitted}: {error}") from None
    _extract(archive, code, submitted)
    if not (code / program).is_file():
        raise ScriptClientError(f"{program} is not in {submitted}")
    for channel, uri in job.channels.items():
        _download_channel(s3, uri, root / "input" / "data" / channel)
    command = [sys.executable, program, *command_arguments(user)]
    env = {**os.environ, **environment(job, root, user, program), "PYTHONPATH": str(code)}
    try:
        finished = subprocess.run(
            command,
            cwd=code,
            env=env,
            capture_output=True,
            text=True,
            timeout=job.max_runtime_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ScriptError("the training job exceeded its MaxRuntimeInSeconds") from None
    output = finished.stdout + finished.stderr
    if finished.returncode != 0:
        raise ScriptError(
            "ExecuteUserScriptError:\n"
            f"ExitCode {finished.returncode}\n"
            f'ErrorMessage "{finished.stderr[-_FAILURE_TAIL_CHARS:].strip()}"\n'
            f'Command "{" ".join(command[1:])}"'
        )
    out_bucket, out_prefix = _s3_location(job.output_path.rstrip("/"))
    artifact_key = f"{out_prefix}/{job.name}/output/model.tar.gz".lstrip("/")
    s3.put_object(Bucket=out_bucket, Key=artifact_key, Body=_pack(root / "model"))
    output_key = f"{out_prefix}/{job.name}/output/output.tar.gz".lstrip("/")
    s3.put_object(Bucket=out_bucket, Key=output_key, Body=_pack(root / "output" / "data"))
    return ScriptResult(
        model_data_url=f"s3://{out_bucket}/{artifact_key}",
        metrics=final_metrics(job.metric_definitions, output),
        output=output,
    )
