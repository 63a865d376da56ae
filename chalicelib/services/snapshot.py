"""A control plane whose endpoint and config describes are read once per snapshot."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.models import EndpointSpec, Strategy
from chalicelib.processing.model_containers import ServingContainer
from chalicelib.records import EndpointState, ModelInfo, Run, TrialComponent, Variant
from chalicelib.services.ports import ControlPlane


class DescribeOnce:
    """Delegates to a control plane, remembering DescribeEndpoint and DescribeEndpointConfig
    answers until `reset`: a report asks about each endpoint from lineage, drift and orphans,
    and one consistent view costs one call per endpoint-chain hop. Writes pass straight
    through and forget what they may have changed."""

    def __init__(self, inner: ControlPlane) -> None:
        self._inner = inner
        self._endpoints: dict[str, EndpointState] = {}
        self._configs: dict[str, tuple[Variant, ...]] = {}

    def reset(self) -> None:
        self._endpoints.clear()
        self._configs.clear()

    def describe_endpoint(self, name: str) -> EndpointState:
        if name not in self._endpoints:
            self._endpoints[name] = self._inner.describe_endpoint(name)
        return self._endpoints[name]

    def describe_endpoint_config(self, name: str) -> tuple[Variant, ...]:
        if name not in self._configs:
            self._configs[name] = self._inner.describe_endpoint_config(name)
        return self._configs[name]

    def describe_training_job(self, name: str, tags: dict[str, str]) -> Run:
        return self._inner.describe_training_job(name, tags)

    def best_training_job(self, tuning_job_name: str) -> str | None:
        return self._inner.best_training_job(tuning_job_name)

    def ensure_model(
        self,
        name: str,
        run: Run,
        role_arn: str,
        network_isolation: bool,
        container: ServingContainer,
    ) -> None:
        self._inner.ensure_model(name, run, role_arn, network_isolation, container)

    def ensure_endpoint_config(
        self, name: str, variants: Sequence[Variant], endpoint: EndpointSpec
    ) -> None:
        self._inner.ensure_endpoint_config(name, variants, endpoint)

    def create_endpoint(self, name: str, config_name: str) -> None:
        self._endpoints.pop(name, None)
        self._inner.create_endpoint(name, config_name)

    def update_endpoint(self, name: str, config_name: str, strategy: Strategy) -> None:
        self._endpoints.pop(name, None)
        self._inner.update_endpoint(name, config_name, strategy)

    def describe_model(self, name: str) -> ModelInfo:
        return self._inner.describe_model(name)

    def model_run_tag(self, model_arn: str) -> str | None:
        return self._inner.model_run_tag(model_arn)

    def trial_components(self, trial_name: str) -> list[TrialComponent]:
        return self._inner.trial_components(trial_name)

    def list_models(self, name_prefix: str) -> list[str]:
        return self._inner.list_models(name_prefix)

    def list_endpoint_configs(self, name_prefix: str) -> list[str]:
        return self._inner.list_endpoint_configs(name_prefix)
