"""The SageMaker model a promoted run becomes: the container deploy() would build, and its
artifact repacked with the inference code where that container could not fetch the code."""

from __future__ import annotations

from dataclasses import replace

from chalicelib.errors import DeploymentFailed
from chalicelib.models import EndpointSpec
from chalicelib.processing.model_containers import ServingContainer, serving_container
from chalicelib.processing.model_packing import PACKED_SUBMIT_DIRECTORY, code_to_pack
from chalicelib.records import Run
from chalicelib.services.ports import ControlPlane, ModelPacker


class ModelBuilds:
    """Creates (or verifies) one run's model. A script-mode model whose container runs with
    network isolation, or whose toolkit reads its code from the model directory, gets its own
    `<packed_models><model>/model.tar.gz` with the code under code/, as the SDK's repack_model
    makes it; without a packer such a model cannot be built."""

    def __init__(
        self,
        sagemaker: ControlPlane,
        packer: ModelPacker | None = None,
        packed_models: str = "",
        max_repack_bytes: int = 0,
    ) -> None:
        self._sagemaker = sagemaker
        self._packer = packer
        self._packed_models = packed_models
        self._max_repack_bytes = max_repack_bytes

    def ensure(self, name: str, run: Run, endpoint: EndpointSpec, role_arn: str) -> None:
        container = self.container(name, run, endpoint)
        self._sagemaker.ensure_model(name, run, role_arn, endpoint.network_isolation, container)

    def container(self, name: str, run: Run, endpoint: EndpointSpec) -> ServingContainer:
        """The container model `name` serves: its artifact the repacked one (packed now, if
        it is not yet) where the code must be packed in."""
        container = serving_container(run, endpoint)
        code = code_to_pack(container.image, container.environment, endpoint.network_isolation)
        if code is not None and container.artifact:
            if self._packer is None:
                raise DeploymentFailed(f"model {name} needs its code packed in; nothing can")
            container = replace(
                container,
                artifact=self._packer.repack_model(
                    container.artifact,
                    code,
                    f"{self._packed_models}{name}/model.tar.gz",
                    self._max_repack_bytes,
                ),
                environment={
                    **container.environment,
                    "SAGEMAKER_SUBMIT_DIRECTORY": PACKED_SUBMIT_DIRECTORY,
                },
            )
        return container
