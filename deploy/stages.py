"""A deployable stage as `.chalice/config.json` defines it: its environment, settings and names."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.config import Settings
from chalicelib.definitions import SAGEMAKER_NAME

PROJECT_DIR = Path(__file__).resolve().parent.parent
APP_NAME = "sagewire"
# Lambda's runtime and architecture for every function, whatever interpreter runs the packaging.
RUNTIME = "python3.12"
# What of the project goes into the deployment package: Chalice takes app.py, chalicelib/ and
# vendor/ from the project directory, and reads .chalice/ for the stage.
APP_FILES = ("app.py",)
APP_DIRS = ("chalicelib",)
ARCHITECTURE = "x86_64"
# The lineage reports' keys (chalicelib/services/reports.py): `reports/latest.*`, `reports/Y/M/D/*`.
REPORTS_PREFIX = "reports/"
_ROLE_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):role/.+$")


class StageError(ValueError):
    """The stage is missing or cannot be deployed as configured."""


@dataclass(frozen=True)
class Stage:
    """One stage of `.chalice/config.json` with the names its resources get."""

    name: str
    settings: Settings
    environment: dict[str, str]
    policy_file: str
    partition: str
    account: str
    api_stage: str = "api"

    @property
    def prefix(self) -> str:
        """Every named resource of the stage starts with this: functions, rules, queue, topic."""
        return f"{APP_NAME}-{self.name}"

    @property
    def dlq_name(self) -> str:
        return f"{self.prefix}-dlq"

    @property
    def dlq_arn_pattern(self) -> str:
        return f"arn:{self.partition}:sqs:*:{self.account}:{self.dlq_name}"

    @property
    def function_name_patterns(self) -> tuple[str, str]:
        """Every name a function of the stage gets, as IAM globs. The packaged template names them
        `sagewire-<stage>-<kebab-case name>`; `chalice deploy` names the API handler
        `sagewire-<stage>` and the others `sagewire-<stage>-<handler_name>`."""
        return self.prefix, f"{self.prefix}-*"

    @property
    def log_group_patterns(self) -> tuple[str, ...]:
        return tuple(f"/aws/lambda/{name}" for name in self.function_name_patterns)

    def function_name(self, chalice_name: str) -> str:
        """The packaged template's Lambda function name: `sagewire-<stage>-<chalice name>`."""
        return f"{self.prefix}-{chalice_name}"

    def owns_function(self, name: str) -> bool:
        """Whether `name` is one of the stage's function names, under either naming."""
        return name == self.prefix or name.startswith(f"{self.prefix}-")


def load_config(project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((project_dir / ".chalice" / "config.json").read_text())
    return config


def stage_environment(config: dict[str, Any], stage: str) -> dict[str, str]:
    """The functions' environment as Chalice builds it: the top level, then the stage's."""
    stages = config.get("stages", {})
    if stage not in stages:
        raise StageError(f"no stage {stage!r} in .chalice/config.json (have {', '.join(stages)})")
    return {
        **config.get("environment_variables", {}),
        **stages[stage].get("environment_variables", {}),
    }


def _setting(config: dict[str, Any], stage: str, key: str, default: Any = None) -> Any:
    """A Chalice setting as Chalice resolves it: the stage's, else the top level's."""
    return config.get("stages", {}).get(stage, {}).get(key, config.get(key, default))


def deployable_stages(config: dict[str, Any]) -> list[str]:
    """The stages with a policy file: everything but the devstack's `local`."""
    return [
        name
        for name in config.get("stages", {})
        if _setting(config, name, "iam_policy_file") is not None
    ]


def _check_fronted(name: str, settings: Settings) -> None:
    """Fronted endpoints are SageMaker names outside the endpoint prefix, on which the policy
    grants writes: one inside it could be changed."""
    prefix = settings.endpoint_prefix.lower()
    for endpoint in settings.fronted_endpoints:
        if not SAGEMAKER_NAME.fullmatch(endpoint):
            raise StageError(
                f"stage {name!r}: SAGEWIRE_FRONTED_ENDPOINTS names {endpoint!r}, which is not a "
                "SageMaker endpoint name"
            )
        if endpoint.lower().startswith(prefix):
            raise StageError(
                f"stage {name!r}: SAGEWIRE_FRONTED_ENDPOINTS names {endpoint}, inside "
                f"SAGEWIRE_ENDPOINT_PREFIX ({settings.endpoint_prefix}), whose endpoints the "
                "stage may change"
            )


def load_stage(name: str, project_dir: Path = PROJECT_DIR) -> Stage:
    config = load_config(project_dir)
    environment = stage_environment(config, name)
    try:
        settings = Settings.from_environ(environment)
    except ValueError as error:
        raise StageError(f"stage {name!r}: {error}") from error
    policy_file = _setting(config, name, "iam_policy_file")
    if policy_file is None or _setting(config, name, "autogen_policy", True):
        raise StageError(f"stage {name!r} needs autogen_policy: false and an iam_policy_file")
    if settings.stage != name:
        raise StageError(f"stage {name!r} sets SAGEWIRE_STAGE={settings.stage!r}")
    if settings.predictions_auth == "none":
        raise StageError(f"stage {name!r}: SAGEWIRE_PREDICTIONS_AUTH=none is for the local stage")
    if not settings.endpoint_prefix:
        raise StageError(f"stage {name!r} needs SAGEWIRE_ENDPOINT_PREFIX")
    _check_fronted(name, settings)
    role = _ROLE_ARN.match(settings.execution_role_arn or "")
    if role is None:
        raise StageError(f"stage {name!r} needs SAGEWIRE_EXECUTION_ROLE_ARN, an IAM role ARN")
    # SageMaker only accepts a role of its own account, so the role's account is the stage's.
    if settings.account_id != role["account"]:
        raise StageError(
            f"stage {name!r} needs SAGEWIRE_ACCOUNT_ID={role['account']}, the account of its "
            f"execution role (the event patterns match it alone), not {settings.account_id}"
        )
    return Stage(
        name=name,
        settings=settings,
        environment=environment,
        policy_file=str(policy_file),
        partition=role["partition"],
        account=role["account"],
        api_stage=str(_setting(config, name, "api_gateway_stage", "api")),
    )
