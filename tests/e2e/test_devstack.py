"""End to end: `python -m devstack serve` and `demo` as subprocesses, driven over HTTP."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import numpy as np
import pytest
import requests
from botocore.exceptions import ClientError, WaiterError

from chalicelib.processing.codecs import serialize
from devstack import algorithms, digits, images
from devstack.samples import first_of
from devstack.stack import STATE_FILE, StackState

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 120
STOP_TIMEOUT = 5
PROJECTS = {
    "digits-zero",
    "digits-kmeans",
    "digits-classifier",
    "digits-zero-auto",
    "digits-ab",
    "digits-hidden",
}
FIXTURES = ROOT.parent / "shared" / "fixtures" / "events"
COMMAND_TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEWIRE_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def _session_members(session: int) -> list[int]:
    """Live processes in a session: the stack runs in its own, so this finds any descendant."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[3]) == session:
            members.append(int(entry.name))
    return members


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    out_dir: Path
    lines: list[str] = field(default_factory=list)

    def command(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """`python -m devstack <args>` against this stack, as a developer runs it."""
        return subprocess.run(
            [sys.executable, "-m", "devstack", *args],
            cwd=ROOT,
            env=_environment(SAGEWIRE_OUT_DIR=str(self.out_dir)),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

    def get(self, path: str) -> Any:
        response = requests.get(f"{self.url}{path}", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def output(self) -> str:
        return "".join(self.lines)

    def post(self, project: str, body: bytes, content_type: str, query: str = "") -> Any:
        return requests.post(
            f"{self.url}/v1/projects/{project}/predictions{query}",
            data=body,
            headers={"Content-Type": content_type},
            timeout=30,
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    port = _free_port()
    out_dir = tmp_path_factory.mktemp("out")
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "serve"],
        cwd=ROOT,
        env=_environment(SAGEWIRE_API_PORT=str(port), SAGEWIRE_OUT_DIR=str(out_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    stack = Served(process, f"http://127.0.0.1:{port}", out_dir)
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            stack.lines.append(line)
            if line.startswith("devstack ready"):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready.wait(0.2):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"devstack serve did not get ready:\n{stack.output()}")
        yield stack
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(5)


def test_health(served: Served) -> None:
    response = requests.get(f"{served.url}/v1/health", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_the_demo_projects_are_registered(served: Served) -> None:
    response = requests.get(f"{served.url}/v1/projects", timeout=10)
    assert response.status_code == 200
    assert {project["name"] for project in response.json()["projects"]} == PROJECTS


def test_ready_line_comes_with_working_curl_lines(served: Served) -> None:
    curls = [line.strip() for line in served.output().splitlines() if "curl " in line]
    assert any("image/png" in line and "--data-binary @" in line for line in curls)
    assert all(served.url in line for line in curls)


def test_ready_lines_come_with_working_sagewire_lines(served: Served) -> None:
    lines = [line.strip() for line in served.output().splitlines() if " --endpoint-url " in line]
    assert any(" predict digits-classifier " in line and "--top-k 3" in line for line in lines)
    for line in lines:
        done = subprocess.run(
            [*shlex.split(line), "--json"],
            cwd=ROOT,
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, (line, done.stderr)
        assert all(json.loads(answer) for answer in done.stdout.splitlines())


def test_a_png_of_a_held_out_zero_is_a_zero(served: Served) -> None:
    split = digits.load_split()
    png = digits.image_bytes(split.x_test[first_of(0)], "PNG")
    response = served.post("digits-zero", png, "image/png")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["project"], body["endpoint"], body["variant"]) == (
        "digits-zero",
        "digits-zero",
        "AllTraffic",
    )
    assert body["predictions"][0]["predicted_label"] == 1


def test_the_classifier_is_accurate_on_held_out_digits(served: Served) -> None:
    split = digits.load_split()
    document = {"instances": digits.to_pixels(split.x_test).tolist()}
    response = served.post("digits-classifier", json.dumps(document).encode(), "application/json")
    assert response.status_code == 200, response.text
    labels = [int(p["label"]) for p in response.json()["predictions"]]
    assert len(labels) == len(split.y_test)
    assert float(np.mean(np.array(labels) == split.y_test)) > 0.9


def test_kmeans_answers_a_batch_with_cluster_indexes(served: Served) -> None:
    rows = digits.csv_rows(digits.load_split().x_test[:20]).encode()
    response = served.post("digits-kmeans", rows, "text/csv")
    assert response.status_code == 200, response.text
    clusters = [p["closest_cluster"] for p in response.json()["predictions"]]
    assert len(clusters) == 20
    assert all(isinstance(c, int) and 0 <= c < 10 for c in clusters)


def test_an_unknown_variant_is_a_400(served: Served) -> None:
    rows = digits.csv_rows(digits.load_split().x_test[:1]).encode()
    response = served.post("digits-zero", rows, "text/csv", "?variant=NoSuchVariant")
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"]


def test_an_unknown_project_is_a_404(served: Served) -> None:
    response = served.post("no-such-project", b"1,2,3\n", "text/csv")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ProjectNotFound"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_a_hostile_png_is_refused_and_the_stack_stays_up(served: Served) -> None:
    # A decompression bomb: 50000 x 50000 pixels declared, a few bytes sent.
    header = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0)
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(50_001 * 16)))
        + _chunk(b"IEND", b"")
    )
    response = served.post("digits-zero", bomb, "image/png")
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["code"]
    assert requests.get(f"{served.url}/v1/health", timeout=10).status_code == 200


def test_train_delivers_sagemaker_events_and_the_app_deploys_the_winner(served: Served) -> None:
    result = served.command(
        "train",
        "--name",
        "e2e-linear-100",
        "--algorithm",
        "linear-learner",
        "--hp",
        "mini_batch_size=100",
        "--tag",
        "Project=Project_Binary_Classifier",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "training job e2e-linear-100 Completed" in result.stdout
    assert "train:objective_loss:final = " in result.stdout
    for status in ("InProgress", "Completed"):
        assert (
            f"(e2e-linear-100 {status}) -> on_training_job_state_change: succeeded" in result.stdout
        )
    # The app's deployment of the first champion: CreateEndpoint, reported back as events.
    assert "(digits-zero-auto IN_SERVICE) -> on_endpoint_state_change: succeeded" in (result.stdout)
    champion = served.get("/v1/projects/digits-zero-auto/champion")["champion"]
    assert champion["run_name"] == "e2e-linear-100"
    rows = digits.csv_rows(digits.load_split().x_test[:3]).encode()
    response = served.post("digits-zero-auto", rows, "text/csv")
    assert response.status_code == 200, response.text
    assert response.json()["endpoint"] == "digits-zero-auto"


def test_a_foreign_run_is_ranked_but_not_promoted_on_the_local_stage(served: Served) -> None:
    image = "999999999999.dkr.ecr.us-east-1.amazonaws.com/exfiltrate:latest"
    result = served.command(
        "train",
        "--name",
        "e2e-foreign",
        "--algorithm",
        "linear-learner",
        "--hp",
        "mini_batch_size=10",
        "--tag",
        "Project=Project_Binary_Classifier",
        "--image",
        image,
        "--output",
        "s3://someone-elses-bucket/out",
        "--role",
        "arn:aws:iam::999999999999:role/Attacker",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    view = served.get("/v1/runs/e2e-foreign")
    assert view["run"]["training_image"] == image
    assert view["run"]["model_artifact"] == (
        "s3://someone-elses-bucket/out/e2e-foreign/output/model.tar.gz"
    )
    assert view["run"]["role_arn"] == "arn:aws:iam::999999999999:role/Attacker"
    verdicts = {entry["project"]: entry for entry in view["eligibility"]}
    assert verdicts["digits-zero-auto"] == {
        "project": "digits-zero-auto",
        "promotable": False,
        "reason": f"untrusted image {image}",
    }
    board = served.get("/v1/projects/digits-zero-auto/leaderboard?limit=100")["runs"]
    assert "e2e-foreign" in [row["name"] for row in board]
    champion = served.get("/v1/projects/digits-zero-auto/champion")["champion"]
    assert champion is None or champion["run_name"] != "e2e-foreign"


def test_a_refused_training_job_says_why(served: Served) -> None:
    result = served.command("train", "--name", "bad_name", "--algorithm", "kmeans")
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.startswith("devstack: train refused: ")
    assert "SageMaker name pattern" in result.stderr


def test_emit_delivers_a_duplicate_event_harmlessly(served: Served) -> None:
    ledger = served.get("/v1/projects/digits-zero-auto/promotions")
    event = json.loads((FIXTURES / "training-job-completed.json").read_text())
    described = served.get("/v1/projects/digits-zero-auto/champion")["champion"]
    name = described["run_name"]
    event["detail"]["TrainingJobName"] = name
    event["detail"]["TrainingJobArn"] = (
        f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"
    )
    event["resources"] = [event["detail"]["TrainingJobArn"]]
    path = served.out_dir / "duplicate.json"
    path.write_text(json.dumps(event))
    result = served.command("emit", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"SageMaker Training Job State Change ({name} Completed): "
        "on_training_job_state_change succeeded"
    ) in result.stdout
    assert served.get("/v1/projects/digits-zero-auto/promotions") == ledger


def test_one_promotion_is_read_through_chalice_local_by_its_percent_encoded_id(
    served: Served,
) -> None:
    """Chalice's local server hands the path parameter over undecoded, API Gateway decoded: the
    same id must be found either way."""
    [entry, *_] = served.get("/v1/projects/digits-zero-auto/promotions")["promotions"]
    assert "#" in entry["promotion_id"]
    encoded = quote(entry["promotion_id"], safe="")

    assert served.get(f"/v1/projects/digits-zero-auto/promotions/{encoded}") == entry
    cut = requests.get(
        f"{served.url}/v1/projects/digits-zero-auto/promotions/{entry['promotion_id']}",
        timeout=10,
    )
    assert cut.status_code == 404  # requests sends no fragment: the id ends at its `#`
    assert cut.json()["error"]["code"] == "PromotionNotFound"


def test_emit_reads_stdin_and_an_unmatched_event_reaches_no_handler(served: Served) -> None:
    event = {"source": "e2e.test", "detail-type": "Nothing Listens", "detail": {}}
    result = served.command("emit", "-", stdin=json.dumps(event))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Nothing Listens: no matching handler" in result.stdout
    result = served.command("emit", "-", "--json", stdin=json.dumps(event))
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout)
    assert (answer["event"]["event"], answer["event"]["outcomes"]) == ("Nothing Listens", [])
    assert answer["idle"] is True


def test_tune_runs_every_combination_and_names_the_best(served: Served) -> None:
    result = served.command(
        "tune",
        "--name",
        "e2e-hpo",
        "--hp-range",
        "lr=0.05,0.1",
        "--hp-range",
        "batch-size=64",
        "--objective",
        "validation:accuracy",
        "--tag",
        "Project=e2e-no-project",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tuning job e2e-hpo Completed: 2 training jobs" in result.stdout
    assert "best training job: e2e-hpo-00" in result.stdout
    assert "(e2e-hpo Completed) -> on_tuning_job_state_change: succeeded" in result.stdout


def test_a_dataset_put_is_recorded_and_an_experiment_run_traces_to_it(served: Served) -> None:
    state = StackState.read(served.out_dir / STATE_FILE)
    s3 = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=state.region
    ).client("s3", endpoint_url=state.aws_endpoint_url)
    key = "datasets/digits/train/digits.csv"
    data = s3.get_object(Bucket=state.bucket, Key=key)["Body"].read()
    version = s3.put_object(Bucket=state.bucket, Key=key, Body=data)["VersionId"]
    result = served.command(
        "train",
        "--name",
        "e2e-hidden-16",
        "--algorithm",
        "softmax",
        "--hp",
        "hidden_channels=16",
        "--experiment",
        "e2e-experiment",
        "--trial",
        "e2e-trial",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(e2e-hidden-16 Completed) -> on_training_job_state_change: succeeded" in result.stdout
    lineage = served.get("/v1/runs/e2e-hidden-16")
    assert lineage["run"]["trial_name"] == "e2e-trial"
    (train,) = [channel for channel in lineage["inputs"] if channel["name"] == "train"]
    assert train["provenance"] == "recorded"
    assert version in {v["version_id"] for v in train["versions"]}
    # The trial's other components: the job's own is the run itself.
    (component,) = lineage["trial_components"]
    mean, std = digits.normalization()
    assert component["display_name"] == "Preprocessing"
    assert component["parameters"] == {"mean": mean, "std": std, "scale": 255.0}


@pytest.fixture
def plain_boto3(served: Served, monkeypatch: pytest.MonkeyPatch) -> StackState:
    """The environment a user's own SageMaker code gets: the stack's endpoint URL, any keys."""
    state = StackState.read(served.out_dir / STATE_FILE)
    monkeypatch.setenv("AWS_ENDPOINT_URL", state.aws_endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", state.region)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return state


def _wait_for_run(served: Served, name: str) -> Any:
    """The run as sagewire recorded it from SageMaker's events (delivered asynchronously)."""
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while True:
        response = requests.get(f"{served.url}/v1/runs/{name}", timeout=10)
        if response.status_code == 200 and response.json()["run"]["status"] == "Completed":
            return response.json()
        assert time.monotonic() < deadline, response.text
        time.sleep(0.5)


def test_the_kmeans_low_level_example_trains_with_plain_boto3(
    served: Served, plain_boto3: StackState
) -> None:
    # As the SageMaker k-means low-level example: MNIST written with write_numpy_to_dense_tensor
    # (here the project's RecordIO writer, byte-identical), a CreateTrainingJob, the waiter.
    split = digits.load_mnist_split()
    bucket, prefix = plain_boto3.bucket, "kmeans_lowlevel_example"
    s3, sagemaker = boto3.client("s3"), boto3.client("sagemaker")
    body = serialize(split.x_train.astype(np.float32), "application/x-recordio-protobuf")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/data/train.data", Body=body)
    job = "kmeans-lowlevel-e2e"
    image = f"382416733822.dkr.ecr.{plain_boto3.region}.amazonaws.com/kmeans:1"
    sagemaker.create_training_job(
        TrainingJobName=job,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/{prefix}/output"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.c4.8xlarge", "VolumeSizeInGB": 50},
        HyperParameters={"k": "10", "feature_dim": "784", "mini_batch_size": "500"},
        StoppingCondition={"MaxRuntimeInSeconds": 60 * 60},
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{bucket}/{prefix}/data/train.data",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "CompressionType": "None",
                "RecordWrapperType": "None",
            }
        ],
        Tags=[{"Key": "Project", "Value": "kmeans-lowlevel"}],
    )
    waiter = sagemaker.get_waiter("training_job_completed_or_stopped")
    waiter.wait(TrainingJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": COMMAND_TIMEOUT})
    described = sagemaker.describe_training_job(TrainingJobName=job)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    artifact = described["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{bucket}/{prefix}/output/{job}/output/model.tar.gz"
    model = algorithms.unpack(
        s3.get_object(Bucket=bucket, Key=artifact.split("/", 3)[3])["Body"].read()
    )
    # Real clusters: on held-out digits, most of each cluster is one digit.
    closest = algorithms.predict_kmeans(model, split.x_test)
    clusters = np.array([int(p["closest_cluster"]) for p in closest])
    purity = sum(np.bincount(split.y_test[clusters == c]).max() for c in set(clusters.tolist()))
    assert purity / len(clusters) > 0.6
    assert 0 < metrics["train:msd"] < 60
    view = _wait_for_run(served, job)
    assert view["run"]["metrics"]["train:msd"] == pytest.approx(metrics["train:msd"])
    assert view["run"]["training_image"] == image
    assert view["run"]["model_artifact"] == artifact


def _diabetes_channels(state: StackState) -> Any:
    """The train and validation channels of the stack's diabetes data (CSV, label first)."""
    return [
        {
            "ChannelName": channel,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": state.datasets[f"diabetes/{channel}"],
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "text/csv",
        }
        for channel in ("train", "validation")
    ]


def test_an_xgboost_regression_on_diabetes_trains_with_plain_boto3(
    served: Served, plain_boto3: StackState
) -> None:
    sagemaker = boto3.client("sagemaker")
    job = "xgboost-diabetes-e2e"
    sagemaker.create_training_job(
        TrainingJobName=job,
        AlgorithmSpecification={
            "TrainingImage": (
                f"683313688378.dkr.ecr.{plain_boto3.region}.amazonaws.com/sagemaker-xgboost:1.7-1"
            ),
            "TrainingInputMode": "File",
        },
        RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        OutputDataConfig={"S3OutputPath": f"s3://{plain_boto3.bucket}/xgboost/output"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 5},
        HyperParameters={
            "objective": "reg:squarederror",
            "num_round": "50",
            "max_depth": "3",
            "eta": "0.1",
            "subsample": "0.8",
        },
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        InputDataConfig=_diabetes_channels(plain_boto3),
    )
    waiter = sagemaker.get_waiter("training_job_completed_or_stopped")
    waiter.wait(TrainingJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": COMMAND_TIMEOUT})
    described = sagemaker.describe_training_job(TrainingJobName=job)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    # Predicting the training mean scores an RMSE of 70.3 on this validation split.
    assert metrics["validation:rmse"] < 62
    assert metrics["train:rmse"] < metrics["validation:rmse"]
    view = _wait_for_run(served, job)
    assert view["run"]["metrics"]["validation:rmse"] == pytest.approx(metrics["validation:rmse"])


def test_a_linear_learner_regressor_trains_hosts_and_predicts_with_plain_boto3(
    served: Served, plain_boto3: StackState
) -> None:
    sagemaker, s3 = boto3.client("sagemaker"), boto3.client("s3")
    runtime = boto3.client("sagemaker-runtime", endpoint_url=plain_boto3.runtime_endpoint_url)
    job, image = "linear-diabetes-e2e", images.image_uri(images.LINEAR_LEARNER, plain_boto3.region)
    sagemaker.create_training_job(
        TrainingJobName=job,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        OutputDataConfig={"S3OutputPath": f"s3://{plain_boto3.bucket}/linear/output"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 5},
        HyperParameters={
            "feature_dim": "10",
            "predictor_type": "regressor",
            "mini_batch_size": "32",
            "epochs": "30",
        },
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        InputDataConfig=_diabetes_channels(plain_boto3),
    )
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": COMMAND_TIMEOUT}
    )
    described = sagemaker.describe_training_job(TrainingJobName=job)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    sagemaker.create_model(
        ModelName=job,
        PrimaryContainer={
            "Image": image,
            "ModelDataUrl": described["ModelArtifacts"]["S3ModelArtifacts"],
        },
        ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=job,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": job,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=job, EndpointConfigName=job)
    sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName=job, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    bucket = plain_boto3.bucket
    validation = plain_boto3.datasets["diabetes/validation"].removeprefix(f"s3://{bucket}/")
    key = s3.list_objects_v2(Bucket=bucket, Prefix=validation)["Contents"][0]["Key"]
    rows = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().split()
    labels = np.array([float(row.split(",", 1)[0]) for row in rows])
    answer = runtime.invoke_endpoint(
        EndpointName=job,
        ContentType="text/csv",
        Accept="application/json",
        Body="\n".join(row.split(",", 1)[1] for row in rows).encode(),
    )
    predictions = json.loads(answer["Body"].read())["predictions"]
    assert len(predictions) == len(labels)
    assert all(set(p) == {"score"} for p in predictions)  # a regressor's records: no label
    mse = float(np.mean((np.array([p["score"] for p in predictions]) - labels) ** 2))
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert mse == pytest.approx(metrics["validation:mse"], rel=1e-4)
    assert mse**0.5 < 62  # predicting the training mean scores an RMSE of 70.3 here


def _xgboost_definition(state: StackState) -> dict[str, Any]:
    """The XGBoost tuning notebook's TrainingJobDefinition, over the stack's diabetes data."""
    return {
        "StaticHyperParameters": {"objective": "reg:squarederror", "num_round": "40"},
        "AlgorithmSpecification": {
            "TrainingImage": (
                f"683313688378.dkr.ecr.{state.region}.amazonaws.com/sagemaker-xgboost:1.7-1"
            ),
            "TrainingInputMode": "File",
        },
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "InputDataConfig": _diabetes_channels(state),
        "OutputDataConfig": {"S3OutputPath": f"s3://{state.bucket}/xgboost-tuning/output"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def test_an_xgboost_tuning_job_finds_its_real_best_and_batch_transforms_with_plain_boto3(
    served: Served, plain_boto3: StackState
) -> None:
    sagemaker, s3 = boto3.client("sagemaker"), boto3.client("s3")
    tuning = "xgb-tuning-e2e"
    sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning,
        HyperParameterTuningJobConfig={
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {
                "Type": "Minimize",
                "MetricName": "validation:rmse",
            },
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 5, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {
                        "Name": "eta",
                        "MinValue": "0.02",
                        "MaxValue": "0.5",
                        "ScalingType": "Logarithmic",
                    }
                ],
                "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1", "MaxValue": "6"}],
                "CategoricalParameterRanges": [{"Name": "subsample", "Values": ["0.7", "1.0"]}],
            },
        },
        TrainingJobDefinition=_xgboost_definition(plain_boto3),  # type: ignore[arg-type]
        Tags=[{"Key": "Project", "Value": "xgb-tuning"}],
    )
    first = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning)
    assert first["HyperParameterTuningJobStatus"] == "InProgress"
    assert "BestTrainingJob" not in first
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while True:  # boto3 has no tuning job waiter: the notebooks poll
        described = sagemaker.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=tuning
        )
        if described["HyperParameterTuningJobStatus"] != "InProgress":
            break
        assert time.monotonic() < deadline
        time.sleep(1)
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    assert described["TrainingJobStatusCounters"]["Completed"] == 5
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 5, "Pending": 0, "Failed": 0}
    summaries = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning,
        SortBy="FinalObjectiveMetricValue",
        SortOrder="Ascending",
    )["TrainingJobSummaries"]
    assert len(summaries) == 5
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
    assert values == sorted(values)
    best = described["BestTrainingJob"]
    assert best["TrainingJobName"] == summaries[0]["TrainingJobName"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == values[0]
    for summary in summaries:
        tuned = summary["TunedHyperParameters"]
        assert set(tuned) == {"eta", "max_depth", "subsample"}
        assert 0.02 <= float(tuned["eta"]) <= 0.5
        assert int(tuned["max_depth"]) in range(1, 7)
        assert tuned["subsample"] in ("0.7", "1.0")
        child = sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])
        assert child["TuningJobArn"] == described["HyperParameterTuningJobArn"]
        assert child["HyperParameters"]["_tuning_objective_metric"] == "validation:rmse"
        metrics = {m["MetricName"]: m["Value"] for m in child["FinalMetricDataList"]}
        assert (
            metrics["validation:rmse"]
            == summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        )
    # Predicting the training mean scores an RMSE of 70.3 on this validation split.
    assert values[0] < 62
    view = _wait_for_run(served, best["TrainingJobName"])
    assert view["run"]["metrics"]["validation:rmse"] == pytest.approx(values[0])

    # The notebook's batch transform: the best model over the held-out rows, features only.
    image = _xgboost_definition(plain_boto3)["AlgorithmSpecification"]["TrainingImage"]
    artifact = sagemaker.describe_training_job(TrainingJobName=best["TrainingJobName"])
    sagemaker.create_model(
        ModelName=f"{tuning}-best",
        PrimaryContainer={
            "Image": image,
            "ModelDataUrl": artifact["ModelArtifacts"]["S3ModelArtifacts"],
        },
        ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
    )
    bucket = plain_boto3.bucket
    validation = plain_boto3.datasets["diabetes/validation"].removeprefix(f"s3://{bucket}/")
    key = s3.list_objects_v2(Bucket=bucket, Prefix=validation)["Contents"][0]["Key"]
    rows = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().split()
    labels = np.array([float(row.split(",", 1)[0]) for row in rows])
    features = "".join(row.split(",", 1)[1] + "\n" for row in rows)
    s3.put_object(Bucket=bucket, Key="xgb-tuning-e2e/in/rows.csv", Body=features.encode())
    sagemaker.create_transform_job(
        TransformJobName=f"{tuning}-batch",
        ModelName=f"{tuning}-best",
        BatchStrategy="MultiRecord",
        TransformInput={
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{bucket}/xgb-tuning-e2e/in/",
                }
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={
            "S3OutputPath": f"s3://{bucket}/xgb-tuning-e2e/out/",
            "AssembleWith": "Line",
        },
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    sagemaker.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName=f"{tuning}-batch",
        WaiterConfig={"Delay": 1, "MaxAttempts": COMMAND_TIMEOUT},
    )
    out = s3.get_object(Bucket=bucket, Key="xgb-tuning-e2e/out/rows.csv.out")["Body"].read()
    predictions = np.array([float(line) for line in out.decode().splitlines()])
    assert len(predictions) == len(labels)
    rmse = float(np.sqrt(np.mean((predictions - labels) ** 2)))
    assert rmse == pytest.approx(values[0], rel=1e-4)  # the objective it was chosen by


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"MetricName": "validation:accuracy"}, "validation:accuracy is not among"),
        ({"Strategy": "Grid"}, "Grid strategy supports categorical parameter ranges only"),
    ],
)
def test_a_tuning_job_sagemaker_would_refuse_is_refused(
    served: Served, plain_boto3: StackState, change: dict[str, str], message: str
) -> None:
    config: Any = {
        "Strategy": change.get("Strategy", "Random"),
        "HyperParameterTuningJobObjective": {
            "Type": "Minimize",
            "MetricName": change.get("MetricName", "validation:rmse"),
        },
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
        "ParameterRanges": {
            "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.1", "MaxValue": "0.3"}]
        },
    }
    with pytest.raises(ClientError, match=message) as refused:
        boto3.client("sagemaker").create_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="xgb-refused-e2e",
            HyperParameterTuningJobConfig=config,
            TrainingJobDefinition=_xgboost_definition(plain_boto3),  # type: ignore[arg-type]
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError, match="Could not find"):
        boto3.client("sagemaker").describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="xgb-refused-e2e"
        )


def test_a_scikit_learn_script_mode_job_trains_and_serves_with_plain_boto3(
    served: Served, plain_boto3: StackState, tmp_path: Path
) -> None:
    # As the SageMaker scikit-learn examples: the entry point in a sourcedir.tar.gz, the
    # SDK's JSON-encoded hyperparameters, MetricDefinitions, then a model with its Environment.
    s3, sagemaker = boto3.client("s3"), boto3.client("sagemaker")
    runtime = boto3.client("sagemaker-runtime", endpoint_url=plain_boto3.runtime_endpoint_url)
    bucket = plain_boto3.bucket
    with tarfile.open(tmp_path / "sourcedir.tar.gz", "w:gz") as tar:
        tar.add(ROOT / "devstack" / "examples" / "sklearn_digits" / "train.py", "train.py")
    s3.upload_file(str(tmp_path / "sourcedir.tar.gz"), bucket, "sklearn/code/sourcedir.tar.gz")
    code = f"s3://{bucket}/sklearn/code/sourcedir.tar.gz"
    image = f"683313688378.dkr.ecr.{plain_boto3.region}.amazonaws.com/sagemaker-scikit-learn:1.2-1"
    job = "sklearn-script-e2e"
    sagemaker.create_training_job(
        TrainingJobName=job,
        AlgorithmSpecification={
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [
                {"Name": "validation:accuracy", "Regex": r"validation:accuracy=([0-9.]+)"}
            ],
        },
        RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/sklearn/output"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
        HyperParameters={
            "n-estimators": "50",
            "sagemaker_program": json.dumps("train.py"),
            "sagemaker_submit_directory": json.dumps(code),
            "sagemaker_region": json.dumps(plain_boto3.region),
        },
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        InputDataConfig=[
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": plain_boto3.datasets[f"breast-cancer/{channel}"],
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "text/csv",
            }
            for channel in ("train", "validation")
        ],
    )
    waiter = sagemaker.get_waiter("training_job_completed_or_stopped")
    waiter.wait(TrainingJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": COMMAND_TIMEOUT})
    described = sagemaker.describe_training_job(TrainingJobName=job)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert metrics["validation:accuracy"] > 0.9
    assert _wait_for_run(served, job)["run"]["metrics"] == pytest.approx(metrics)

    sagemaker.create_model(
        ModelName="sklearn-script-e2e",
        PrimaryContainer={
            "Image": image,
            "ModelDataUrl": described["ModelArtifacts"]["S3ModelArtifacts"],
            "Environment": {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": code},
        },
        ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="sklearn-script-e2e",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "sklearn-script-e2e",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(
        EndpointName="sklearn-script-e2e", EndpointConfigName="sklearn-script-e2e"
    )
    sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName="sklearn-script-e2e", WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    validation = plain_boto3.datasets["breast-cancer/validation"].removeprefix(f"s3://{bucket}/")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=validation)["Contents"]
    rows = s3.get_object(Bucket=bucket, Key=listed[0]["Key"])["Body"].read().decode().split()
    labels = [int(float(row.split(",", 1)[0])) for row in rows]
    features = "\n".join(row.split(",", 1)[1] for row in rows)
    answer = runtime.invoke_endpoint(
        EndpointName="sklearn-script-e2e",
        ContentType="text/csv",
        Accept="application/json",
        Body=features.encode(),
    )
    predicted = json.loads(answer["Body"].read())
    assert len(predicted) == len(labels)
    assert np.mean(np.array(predicted) == np.array(labels)) > 0.9


def test_a_job_with_an_unknown_image_fails_as_on_sagemaker(
    served: Served, plain_boto3: StackState
) -> None:
    sagemaker = boto3.client("sagemaker")
    image = f"123456789012.dkr.ecr.{plain_boto3.region}.amazonaws.com/my-kmeans:1"
    sagemaker.create_training_job(
        TrainingJobName="unknown-image-e2e",
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        OutputDataConfig={"S3OutputPath": f"s3://{plain_boto3.bucket}/unknown/output"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    waiter = sagemaker.get_waiter("training_job_completed_or_stopped")
    with pytest.raises(WaiterError, match="Failed"):
        waiter.wait(
            TrainingJobName="unknown-image-e2e",
            WaiterConfig={"Delay": 1, "MaxAttempts": COMMAND_TIMEOUT},
        )
    described = sagemaker.describe_training_job(TrainingJobName="unknown-image-e2e")
    assert described["FailureReason"] == f"ClientError: Requested image {image} not found."


def test_sigint_stops_everything(served: Served) -> None:
    process = served.process
    session = os.getsid(process.pid)
    process.send_signal(signal.SIGINT)
    process.wait(STOP_TIMEOUT)
    assert process.returncode == 0, served.output()
    assert "devstack: stopped" in served.output()
    assert _session_members(session) == []
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{served.url}/v1/health", timeout=5)


def test_demo_tells_the_story_and_exits_0(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devstack", "demo"],
        cwd=ROOT,
        env=_environment(SAGEWIRE_OUT_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for line in (
        "devstack ready",
        "held-out accuracy",
        "digits-classifier 0.9",
        "#1 linear-mbs-100: train:objective_loss:final",
        "champion linear-mbs-100",
        "champion still linear-mbs-100; ledger 1 -> 1 promotion(s)",
        "tuning job digits-hpo: 9 softmax jobs",
        "BestTrainingJob digits-hpo-",
        "served by Champion (ab-hidden-8)",
        "served by Challenger (ab-hidden-32)",
        "(d) experiment digits-hidden: 5 softmax trials",
        "Preprocessing parameters {'mean': 0.3055, 'std': 0.376, 'scale': 255.0}",
        "champion digits-hidden-64",
        "GET /v1/projects/digits-hidden/leaderboard?sort=Metrics.validation:accuracy",
        "#1 digits-hidden-64: validation:accuracy",
        "GET /v1/lineage/endpoints/digits-hidden",
        "run digits-hidden-64 (found by ledger)",
        "dataset train: s3://sagewire-local/datasets/digits/train/ (recorded): digits.csv version",
        "trial component Preprocessing: mean 0.3055, std 0.376",
        "inference spec sha256 ",
        "digits-hidden-64 -> digits-hidden",
        "100 held-out digits as CSV -> digits-kmeans (one request)",
        "-> on_batch_object",
        "(counts {'records': 359, 'predictions': 359, 'errors': 0}); accuracy 0.9",
        "Scheduled Event -> lineage_report",
        f"HTML report: {tmp_path / 'reports' / 'latest.html'}",
        "demo: OK",
    ):
        assert line in result.stdout
    for name in ("latest.json", "latest.html", "latest.csv", "latest.openlineage.jsonl"):
        assert (tmp_path / "reports" / name).stat().st_size > 0
    assert not (tmp_path / "devstack.json").exists()
    # The demo's real events, its tuning jobs' runs among them, as the official client takes them.
    events = tmp_path / "reports" / "latest.openlineage.jsonl"
    push = ["push", "--file", str(events), "--dry-run", "--json"]
    pushed = subprocess.run(
        [sys.executable, "-m", "ops.openlineage", *push],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert json.loads(pushed.stdout)["events"] == len(events.read_text().splitlines())
