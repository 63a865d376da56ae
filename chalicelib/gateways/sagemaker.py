"""SageMaker control plane: training jobs in, models, endpoint configs and endpoints out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar, cast

from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as TransportConnectionError

from chalicelib.errors import (
    Conflict,
    DeploymentFailed,
    EndpointBusy,
    EndpointUnavailable,
    NotFound,
)
from chalicelib.gateways.sagemaker_errors import AlreadyExists, translate
from chalicelib.gateways.sagemaker_shapes import (
    deployment_config,
    metric_statistics,
    training_run,
    variant_keys,
)
from chalicelib.models import EndpointSpec, Strategy
from chalicelib.processing.model_containers import ServingContainer
from chalicelib.records import EndpointState, ModelInfo, Run, TrialComponent, Variant

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker.literals import ProductionVariantInstanceTypeType
    from mypy_boto3_sagemaker.type_defs import (
        ContainerDefinitionTypeDef,
        DescribeTrialComponentResponseTypeDef,
        ListTagsInputTypeDef,
        ListTrialComponentsRequestTypeDef,
        ProductionVariantTypeDef,
        UpdateEndpointInputTypeDef,
    )

_T = TypeVar("_T")
RUN_TAG = "sagewire:run"
# The endpoint an endpoint config was made for, on the configs sagewire creates.
ENDPOINT_TAG = "sagewire:endpoint"
# SageMaker names the trial component of a training job run in an experiment so.
TRAINING_COMPONENT_SUFFIX = "-aws-training-job"
MAX_REMEMBERED_TRIALS = 10_000
# A training job's trial component (or trial) that SageMaker does not have: nothing, no failure.
_NO_COMPONENT = frozenset({"ResourceNotFound", "ValidationException"})


def control_plane_client_config() -> Config:
    # Control-plane calls answer in well under a second; the timeouts only bound a hung
    # connection, so that 5 attempts with backoff still end inside a Lambda's default minute.
    # "total_max_attempts" counts the first call; botocore's "max_attempts" would add one to it.
    return Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"mode": "standard", "total_max_attempts": 5},
    )


class SageMakerGateway:
    """The `ControlPlane` port on SageMaker; every create is idempotent by name."""

    def __init__(self, client: SageMakerClient, retry_after_seconds: int) -> None:
        self._client = client
        self._retry_after = retry_after_seconds
        self._experiments: dict[str, str | None] = {}

    def describe_training_job(self, name: str, tags: dict[str, str]) -> Run:
        """The run; in an experiment, with its metrics' statistics from its trial component."""
        job = self.call(
            f"training job {name}", lambda: self._client.describe_training_job(TrainingJobName=name)
        )
        return self.in_experiment(training_run(job, tags))

    def in_experiment(self, run: Run) -> Run:
        """A run named by a training job's record, completed with what its experiment knows:
        the experiment of a trial-only job, its metrics' statistics from its trial component."""
        if run.experiment_name is None and run.trial_name is not None:
            # Estimator.fit(experiment_config={"TrialName": ...}) names only the trial.
            run = replace(run, experiment_name=self._experiment_of(run.trial_name))
        if run.experiment_name is None and run.trial_name is None:
            return run
        component_name = run.name + TRAINING_COMPONENT_SUFFIX
        component = self.call(
            f"trial component {component_name}", lambda: self._training_component(component_name)
        )
        if component is None:
            return run
        return replace(run, metric_statistics=metric_statistics(component))

    def best_training_job(self, tuning_job_name: str) -> str | None:
        job = self.call(
            f"tuning job {tuning_job_name}",
            lambda: self._client.describe_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=tuning_job_name
            ),
        )
        return job.get("BestTrainingJob", {}).get("TrainingJobName")

    def ensure_model(
        self,
        name: str,
        run: Run,
        role_arn: str,
        network_isolation: bool,
        container: ServingContainer,
    ) -> None:
        """The model of `run` created from `container` (no Environment when it has none), or
        the existing one when it is the same (image, artifact, environment, role, isolation)."""
        if not run.training_image or not container.artifact:
            raise DeploymentFailed(f"run {run.name} has no training image or model artifact")
        image, artifact, environment = container.image, container.artifact, container.environment
        primary: ContainerDefinitionTypeDef = {"Image": image, "ModelDataUrl": artifact}
        if environment:
            primary["Environment"] = environment
        subject = f"model {name}"
        try:
            self.call(
                subject,
                lambda: self._client.create_model(
                    ModelName=name,
                    PrimaryContainer=primary,
                    ExecutionRoleArn=role_arn,
                    EnableNetworkIsolation=network_isolation,
                    Tags=[{"Key": RUN_TAG, "Value": run.name}],
                ),
            )
        except AlreadyExists:
            model = self.call(subject, lambda: self._client.describe_model(ModelName=name))
            existing = model.get("PrimaryContainer", {})
            differences = [
                field
                for field, have, want in (
                    ("image", existing.get("Image"), image),
                    ("artifact", existing.get("ModelDataUrl"), artifact),
                    ("environment", existing.get("Environment", {}), environment),
                    ("role", model.get("ExecutionRoleArn"), role_arn),
                    (
                        "network isolation",
                        model.get("EnableNetworkIsolation", False),
                        network_isolation,
                    ),
                )
                if have != want
            ]
            if differences:
                raise Conflict(
                    f"{subject} already exists with another {' and '.join(differences)}"
                ) from None

    def ensure_endpoint_config(
        self, name: str, variants: Sequence[Variant], endpoint: EndpointSpec
    ) -> None:
        wanted: list[ProductionVariantTypeDef] = [
            {
                "VariantName": variant.name,
                "ModelName": variant.model_name,
                "InitialInstanceCount": endpoint.instance_count,
                "InstanceType": cast("ProductionVariantInstanceTypeType", endpoint.instance_type),
                "InitialVariantWeight": variant.weight,
            }
            for variant in variants
        ]
        subject = f"endpoint config {name}"
        try:
            self.call(
                subject,
                lambda: self._client.create_endpoint_config(
                    EndpointConfigName=name,
                    ProductionVariants=wanted,
                    Tags=[{"Key": ENDPOINT_TAG, "Value": endpoint.name}],
                ),
            )
        except AlreadyExists:
            config = self.call(
                subject, lambda: self._client.describe_endpoint_config(EndpointConfigName=name)
            )
            if variant_keys(config["ProductionVariants"]) != variant_keys(wanted):
                raise Conflict(f"{subject} already exists with other variants") from None

    def describe_endpoint(self, name: str) -> EndpointState:
        try:
            endpoint = self.call(
                f"endpoint {name}", lambda: self._client.describe_endpoint(EndpointName=name)
            )
        except NotFound:
            return EndpointState(name, "Absent", None)
        return EndpointState(
            name=name,
            status=endpoint["EndpointStatus"],
            config_name=endpoint.get("EndpointConfigName"),
            pending_config_name=endpoint.get("PendingDeploymentSummary", {}).get(
                "EndpointConfigName"
            ),
            failure_reason=endpoint.get("FailureReason"),
        )

    def create_endpoint(self, name: str, config_name: str) -> None:
        subject = f"endpoint {name}"
        try:
            self.call(
                subject,
                lambda: self._client.create_endpoint(
                    EndpointName=name, EndpointConfigName=config_name
                ),
            )
        except AlreadyExists:
            raise EndpointBusy(f"{subject} already exists; describe it and update it") from None

    def update_endpoint(self, name: str, config_name: str, strategy: Strategy) -> None:
        params: UpdateEndpointInputTypeDef = {
            "EndpointName": name,
            "EndpointConfigName": config_name,
        }
        deployment = deployment_config(strategy)
        if deployment is not None:
            params["DeploymentConfig"] = deployment
        self.call(f"endpoint {name}", lambda: self._client.update_endpoint(**params))

    def describe_endpoint_config(self, name: str) -> tuple[Variant, ...]:
        """The config's model variants with their initial weights (1.0 when unset)."""
        config = self.call(
            f"endpoint config {name}",
            lambda: self._client.describe_endpoint_config(EndpointConfigName=name),
        )
        return tuple(
            Variant(
                variant["VariantName"],
                variant["ModelName"],
                variant.get("InitialVariantWeight", 1.0),
            )
            for variant in config["ProductionVariants"]
            if "ModelName" in variant
        )

    def describe_model(self, name: str) -> ModelInfo:
        model = self.call(f"model {name}", lambda: self._client.describe_model(ModelName=name))
        containers = model.get("Containers") or [model.get("PrimaryContainer", {})]
        container = containers[0] if containers else {}
        artifact = container.get("ModelDataUrl") or container.get("ModelDataSource", {}).get(
            "S3DataSource", {}
        ).get("S3Uri")
        return ModelInfo(
            name=model["ModelName"],
            arn=model["ModelArn"],
            image=container.get("Image"),
            artifact=artifact,
            role_arn=model.get("ExecutionRoleArn"),
            environment=dict(container.get("Environment", {})),
        )

    def model_run_tag(self, model_arn: str) -> str | None:
        """The `sagewire:run` tag sagewire puts on the models it creates."""
        return self.tag(model_arn, RUN_TAG)

    def tag(self, arn: str, key: str) -> str | None:
        """The value of one tag of a resource, None without it (ListTags, paged)."""
        params: ListTagsInputTypeDef = {"ResourceArn": arn}
        while True:
            page = self.call(f"tags of {arn}", lambda: self._client.list_tags(**params))
            for tag in page.get("Tags", []):
                if tag["Key"] == key:
                    return tag["Value"]
            if "NextToken" not in page:
                return None
            params["NextToken"] = page["NextToken"]

    def trial_components(self, trial_name: str) -> list[TrialComponent]:
        """Every component of a trial with its parameters (one Describe per component)."""
        params: ListTrialComponentsRequestTypeDef = {"TrialName": trial_name}
        names: list[str] = []
        while True:
            page = self.call(
                f"trial {trial_name}", lambda: self._client.list_trial_components(**params)
            )
            names.extend(
                summary["TrialComponentName"]
                for summary in page.get("TrialComponentSummaries", [])
                if "TrialComponentName" in summary
            )
            if "NextToken" not in page:
                break
            params["NextToken"] = page["NextToken"]
        return [self._trial_component(name) for name in names]

    def list_models(self, name_prefix: str) -> list[str]:
        """Names of the models whose name starts with `name_prefix` (ListModels, paged)."""
        # Pages are fetched as they are iterated, so every request is made inside _call.
        pages = self._client.get_paginator("list_models").paginate(NameContains=name_prefix)
        names = self.call(
            f"models {name_prefix}*",
            lambda: [model["ModelName"] for page in pages for model in page.get("Models", [])],
        )
        return sorted(name for name in names if name.startswith(name_prefix))

    def list_endpoint_configs(self, name_prefix: str) -> list[str]:
        """Names of the endpoint configs whose name starts with `name_prefix` (paged)."""
        paginator = self._client.get_paginator("list_endpoint_configs")
        pages = paginator.paginate(NameContains=name_prefix)
        names = self.call(
            f"endpoint configs {name_prefix}*",
            lambda: [
                config["EndpointConfigName"]
                for page in pages
                for config in page.get("EndpointConfigs", [])
            ],
        )
        return sorted(name for name in names if name.startswith(name_prefix))

    def _experiment_of(self, trial: str) -> str | None:
        """The experiment of a trial (DescribeTrial; None when SageMaker has no such trial),
        remembered for the function's life: a trial's experiment is fixed when it is made."""
        if trial in self._experiments:
            return self._experiments[trial]
        try:
            described = self._client.describe_trial(TrialName=trial)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _NO_COMPONENT:
                return None  # not remembered: the trial may be made later
            raise translate(f"trial {trial}", error, self._retry_after) from None
        if len(self._experiments) >= MAX_REMEMBERED_TRIALS:
            self._experiments.clear()
        experiment = self._experiments[trial] = described.get("ExperimentName")
        return experiment

    def _training_component(self, name: str) -> DescribeTrialComponentResponseTypeDef | None:
        """DescribeTrialComponent, None when SageMaker has no such component."""
        try:
            return self._client.describe_trial_component(TrialComponentName=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _NO_COMPONENT:
                return None
            raise

    def _trial_component(self, name: str) -> TrialComponent:
        component = self.call(
            f"trial component {name}",
            lambda: self._client.describe_trial_component(TrialComponentName=name),
        )
        parameters: dict[str, str | float] = {}
        for key, value in component.get("Parameters", {}).items():
            if "NumberValue" in value:
                parameters[key] = value["NumberValue"]
            elif "StringValue" in value:
                parameters[key] = value["StringValue"]
        return TrialComponent(
            name=component.get("TrialComponentName", name),
            display_name=component.get("DisplayName"),
            parameters=parameters,
            source_arn=component.get("Source", {}).get("SourceArn"),
        )

    def call(self, subject: str, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except ClientError as error:
            raise translate(subject, error, self._retry_after) from None
        except (TransportConnectionError, HTTPClientError) as error:
            raise EndpointUnavailable(
                f"{subject}: SageMaker could not be reached", self._retry_after
            ) from error
