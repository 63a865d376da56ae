"""The demo's user-code stories: SageMaker examples' own boto3 calls, picked up by sagewire."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np

from chalicelib.processing.codecs import serialize
from devstack import digits, images
from devstack.demo_client import Api, DemoFailure, settle, show
from devstack.stack import Stack

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import ChannelTypeDef, WaiterConfigTypeDef
    from mypy_boto3_sagemaker_runtime.client import SageMakerRuntimeClient

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
# Waiters poll every 30 to 120 s by default, sized for AWS; the stack answers in seconds.
FAST: WaiterConfigTypeDef = {"Delay": 1, "MaxAttempts": 300}
SCRIPT = Path(__file__).parent / "examples" / "sklearn_digits" / "train.py"
MIN_SCRIPT_ACCURACY = 0.9
MIN_KMEANS_PURITY = 0.6


def channel(name: str, uri: str, content_type: str | None = None) -> ChannelTypeDef:
    source: ChannelTypeDef = {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }
    if content_type is not None:
        source["ContentType"] = content_type
    return source


class Boto3Stories:
    """What a story written with plain boto3 holds: the stack, sagewire's API, boto3 clients for
    the stack's SageMaker and S3, and the calls the SageMaker examples make with them."""

    def __init__(self, stack: Stack, api: Api) -> None:
        self._stack = stack
        self._api = api
        self._region = stack.state.region
        self._bucket = stack.state.bucket
        self._datasets = stack.state.datasets
        session = boto3.session.Session(region_name=self._region)
        self._sagemaker: SageMakerClient = session.client("sagemaker")
        self._s3: S3Client = session.client("s3")

    def _train(
        self,
        job: str,
        tags: dict[str, str] | None = None,
        *,
        role: str = ROLE,
        max_runtime: int = 3600,
        **request: Any,
    ) -> dict[str, float]:
        """CreateTrainingJob (tagged if `tags` are given) and its waiter, as the low-level
        examples write them; the job's final metrics, or DemoFailure unless it completed."""
        if tags is not None:
            request["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]
        self._sagemaker.create_training_job(
            TrainingJobName=job,
            RoleArn=role,
            ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": max_runtime},
            **request,
        )
        waiter = self._sagemaker.get_waiter("training_job_completed_or_stopped")
        waiter.wait(TrainingJobName=job, WaiterConfig=FAST)
        described = self._sagemaker.describe_training_job(TrainingJobName=job)
        if described["TrainingJobStatus"] != "Completed":
            raise DemoFailure(f"{job}: {described.get('FailureReason')}")
        return {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList", [])}

    def _source_dir(self, prefix: str) -> str:
        """SCRIPT as train.py in `<prefix>/code/sourcedir.tar.gz`, as the SDK uploads an
        estimator's entry point; the archive's S3 URI."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(SCRIPT, arcname="train.py")
        key = f"{prefix}/code/sourcedir.tar.gz"
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=buffer.getvalue())
        return f"s3://{self._bucket}/{key}"

    def _train_script_mode(
        self,
        job: str,
        prefix: str,
        code: str,
        channels: list[ChannelTypeDef],
        tags: dict[str, str] | None = None,
        *,
        role: str = ROLE,
    ) -> dict[str, float]:
        """The scikit-learn estimator's training job, as the SDK requests it: the sklearn image,
        the metric train.py prints, the entry point and the source directory `code` as
        JSON-encoded hyperparameters, output under `<prefix>/output`."""
        return self._train(
            job,
            tags,
            role=role,
            AlgorithmSpecification={
                "TrainingImage": images.sklearn_image(self._region),
                "TrainingInputMode": "File",
                "MetricDefinitions": [
                    {"Name": "validation:accuracy", "Regex": r"validation:accuracy=([0-9.]+)"}
                ],
            },
            HyperParameters={
                "n-estimators": "50",
                "sagemaker_program": json.dumps("train.py"),
                "sagemaker_submit_directory": json.dumps(code),
            },
            InputDataConfig=channels,
            OutputDataConfig={"S3OutputPath": f"s3://{self._bucket}/{prefix}/output"},
        )

    def _dataset_text(self, name: str) -> str:
        """The first object of the stack's data set `name` (e.g. `diabetes/validation`)."""
        prefix = self._datasets[name].removeprefix(f"s3://{self._bucket}/")
        key = self._s3.list_objects_v2(Bucket=self._bucket, Prefix=prefix)["Contents"][0]["Key"]
        return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read().decode()


class UserCodeStories(Boto3Stories):
    """Each story is written the way the SageMaker examples write it (plain boto3, waiters);
    sagewire sees the jobs only through SageMaker's own events."""

    def __init__(self, stack: Stack, api: Api) -> None:
        super().__init__(stack, api)
        self._runtime: SageMakerRuntimeClient = boto3.client(
            "sagemaker-runtime", region_name=self._region
        )

    def _deploy(self, name: str, container: dict[str, Any]) -> None:
        self._sagemaker.create_model(
            ModelName=name,
            PrimaryContainer=container,  # type: ignore[arg-type]
            ExecutionRoleArn=ROLE,
        )
        self._sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": name,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
        self._sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
        self._sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST)

    def _artifact(self, job: str) -> str:
        described = self._sagemaker.describe_training_job(TrainingJobName=job)
        return described["ModelArtifacts"]["S3ModelArtifacts"]

    def _seen_by_sagewire(self, job: str, metric: str) -> str:
        settle(self._stack)
        run = self._api.get(f"/v1/runs/{job}")["run"]
        return f"sagewire recorded {job} ({metric} = {run['metrics'][metric]:.4f})"

    def kmeans_low_level(self) -> None:
        """The k-means low-level example: RecordIO from write_numpy_to_dense_tensor (the
        project's byte-identical writer), CreateTrainingJob, the waiter, hosting, InvokeEndpoint."""
        split = digits.load_mnist_split()
        body = serialize(split.x_train.astype(np.float32), "application/x-recordio-protobuf")
        self._s3.put_object(Bucket=self._bucket, Key="kmeans_lowlevel/data/train.data", Body=body)
        job = "kmeans-lowlevel-demo"
        metrics = self._train(
            job,
            AlgorithmSpecification={
                "TrainingImage": images.image_uri(images.KMEANS, self._region),
                "TrainingInputMode": "File",
            },
            HyperParameters={"k": "10", "feature_dim": "784", "mini_batch_size": "500"},
            InputDataConfig=[channel("train", f"s3://{self._bucket}/kmeans_lowlevel/data/")],
            OutputDataConfig={"S3OutputPath": f"s3://{self._bucket}/kmeans_lowlevel/output"},
        )
        self._deploy(
            job,
            {
                "Image": images.image_uri(images.KMEANS, self._region),
                "ModelDataUrl": self._artifact(job),
            },
        )
        rows = "\n".join(",".join(f"{v:.4f}" for v in row) for row in split.x_test)
        answer = self._runtime.invoke_endpoint(
            EndpointName=job, ContentType="text/csv", Accept="application/json", Body=rows
        )
        clusters = np.array(
            [p["closest_cluster"] for p in json.loads(answer["Body"].read())["predictions"]]
        ).astype(int)
        purity = sum(
            np.bincount(split.y_test[clusters == c]).max() for c in set(clusters.tolist())
        ) / len(clusters)
        if purity < MIN_KMEANS_PURITY:
            raise DemoFailure(f"k-means clusters are only {purity:.0%} pure")
        show(
            "the k-means low-level example, plain boto3: 28x28 digits as RecordIO, "
            "CreateTrainingJob (kmeans:1, k=10), waiter, CreateModel/EndpointConfig/Endpoint",
            f"train:msd={metrics['train:msd']:.2f}; {len(clusters)} held-out digits clustered, "
            f"{purity:.0%} of each cluster one digit; {self._seen_by_sagewire(job, 'train:msd')}",
        )

    def sklearn_script_mode(self) -> None:
        """A scikit-learn estimator as the SDK runs it: the entry point in sourcedir.tar.gz,
        JSON-encoded hyperparameters, MetricDefinitions; then hosted through its model_fn."""
        code = self._source_dir("sklearn")
        image = images.sklearn_image(self._region)
        job = "sklearn-breast-cancer-demo"
        metrics = self._train_script_mode(
            job,
            "sklearn",
            code,
            [
                channel(name, self._datasets[f"breast-cancer/{name}"], "text/csv")
                for name in ("train", "validation")
            ],
        )
        if metrics["validation:accuracy"] < MIN_SCRIPT_ACCURACY:
            raise DemoFailure(f"{job}: validation:accuracy {metrics['validation:accuracy']}")
        self._deploy(
            job,
            {
                "Image": image,
                "ModelDataUrl": self._artifact(job),
                "Environment": {
                    "SAGEMAKER_PROGRAM": "train.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": code,
                },
            },
        )
        rows = self._dataset_text("breast-cancer/validation").split()
        answer = self._runtime.invoke_endpoint(
            EndpointName=job,
            ContentType="text/csv",
            Accept="application/json",
            Body="\n".join(row.split(",", 1)[1] for row in rows[:5]),
        )
        labels = [int(float(row.split(",", 1)[0])) for row in rows[:5]]
        show(
            "a scikit-learn script-mode job, plain boto3: train.py in sourcedir.tar.gz on the "
            "sagemaker-scikit-learn image, then hosted through its model_fn",
            f"validation:accuracy={metrics['validation:accuracy']:.3f}; 5 held-out tumours -> "
            f"{json.loads(answer['Body'].read())} (labels {labels}); "
            f"{self._seen_by_sagewire(job, 'validation:accuracy')}",
        )

    def xgboost_tuning_and_transform(self) -> None:
        """The XGBoost tuning notebook: a tuning job over diabetes polled until it completes,
        then its best model batch-transforms the held-out rows."""
        tuning = "xgb-diabetes-demo"
        image = images.image_uri(images.XGBOOST, self._region, "1.7-1")
        self._sagemaker.create_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=tuning,
            HyperParameterTuningJobConfig={
                "Strategy": "Bayesian",
                "HyperParameterTuningJobObjective": {
                    "Type": "Minimize",
                    "MetricName": "validation:rmse",
                },
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
                "ParameterRanges": {
                    "ContinuousParameterRanges": [
                        {"Name": "eta", "MinValue": "0.05", "MaxValue": "0.5"}
                    ],
                    "IntegerParameterRanges": [
                        {"Name": "max_depth", "MinValue": "2", "MaxValue": "6"}
                    ],
                },
            },
            TrainingJobDefinition={
                "StaticHyperParameters": {"objective": "reg:squarederror", "num_round": "50"},
                "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
                "RoleArn": ROLE,
                "InputDataConfig": [
                    channel(name, self._datasets[f"diabetes/{name}"], "text/csv")
                    for name in ("train", "validation")
                ],
                "OutputDataConfig": {"S3OutputPath": f"s3://{self._bucket}/xgboost/output"},
                "ResourceConfig": {
                    "InstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "VolumeSizeInGB": 5,
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            },
        )
        # boto3 has no tuning waiter: the notebook polls, as here.
        for _ in range(FAST["MaxAttempts"]):
            described = self._sagemaker.describe_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=tuning
            )
            if described["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
                break
            time.sleep(FAST["Delay"])
        if described["HyperParameterTuningJobStatus"] != "Completed":
            raise DemoFailure(f"{tuning}: {described.get('FailureReason')}")
        best = described["BestTrainingJob"]
        best_rmse = best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        model = f"{tuning}-best"
        self._sagemaker.create_model(
            ModelName=model,
            PrimaryContainer={
                "Image": image,
                "ModelDataUrl": self._artifact(best["TrainingJobName"]),
            },
            ExecutionRoleArn=ROLE,
        )
        rows = self._dataset_text("diabetes/validation").split()
        labels = np.array([float(row.split(",", 1)[0]) for row in rows])
        features = "\n".join(row.split(",", 1)[1] for row in rows) + "\n"
        self._s3.put_object(
            Bucket=self._bucket, Key="xgboost/transform/in/diabetes.csv", Body=features.encode()
        )
        transform = f"{tuning}-transform"
        self._sagemaker.create_transform_job(
            TransformJobName=transform,
            ModelName=model,
            BatchStrategy="MultiRecord",
            TransformInput={
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{self._bucket}/xgboost/transform/in/",
                    }
                },
                "ContentType": "text/csv",
                "SplitType": "Line",
            },
            TransformOutput={
                "S3OutputPath": f"s3://{self._bucket}/xgboost/transform/out/",
                "AssembleWith": "Line",
            },
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )
        waiter = self._sagemaker.get_waiter("transform_job_completed_or_stopped")
        waiter.wait(TransformJobName=transform, WaiterConfig=FAST)
        out = self._s3.get_object(
            Bucket=self._bucket, Key="xgboost/transform/out/diabetes.csv.out"
        )["Body"].read()
        predictions = np.array([float(line) for line in out.decode().split()])
        if len(predictions) != len(labels):
            raise DemoFailure(f"{transform}: {len(predictions)} lines for {len(labels)} rows")
        rmse = float(np.sqrt(np.mean((predictions - labels) ** 2)))
        show(
            "the XGBoost tuning notebook, plain boto3: a Bayesian tuning job (4 jobs, 2 at a "
            "time; eta, max_depth) over diabetes; its best model batch-transforms held-out rows",
            f"best {best['TrainingJobName']} validation:rmse={best_rmse:.2f}; "
            f"diabetes.csv.out has {len(predictions)} lines for {len(labels)} rows, RMSE "
            f"{rmse:.2f}; {self._seen_by_sagewire(best['TrainingJobName'], 'validation:rmse')}",
        )
