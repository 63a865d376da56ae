"""The whole stack in one process: moto + shim, local sagemaker-runtime, chalice local, models."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
import requests
from chalice.app import Chalice
from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes
from chalice.local import ChaliceRequestHandler

from chalicelib.gateways.table import TABLE_SCHEMA
from devstack import datasets, images, projects, trainer
from devstack.aws import CONTROL_PREFIX, ControlPlane
from devstack.control import ControlApi
from devstack.events import EventRouter
from devstack.functions import SqsDestination, dead_letter_queue_name
from devstack.jobs import LocalSageMaker
from devstack.runtime import RuntimeServer
from devstack.tuning_jobs import TuningJobs

if TYPE_CHECKING:
    from mypy_boto3_s3.literals import BucketLocationConstraintType

PROJECT_DIR = Path(__file__).resolve().parents[1]
STATE_FILE = "devstack.json"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _seconds(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1.0
    if not value >= minimum or value > 3600:
        raise StackError(f"{name}={raw!r} is not a number of seconds (>= {minimum}, <= 3600)")
    return value


class StackError(RuntimeError):
    """The stack could not start or a step of its bootstrap failed."""


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) > 65535:
        raise StackError(f"{name}={raw!r} is not a TCP port")
    return int(raw)


@dataclass(frozen=True)
class StackSettings:
    project_dir: Path
    out_dir: Path
    api_port: int
    aws_port: int = 0
    runtime_port: int = 0
    region: str = "us-east-1"
    stage: str = "local"
    update_delay_seconds: float = 2.0
    create_delay_seconds: float = 1.0
    schedule_seconds: float = 10.0

    @classmethod
    def from_environ(cls, default_api_port: int) -> StackSettings:
        """SAGEWIRE_API_PORT, SAGEWIRE_AWS_PORT, SAGEWIRE_RUNTIME_PORT (0: any free port),
        SAGEWIRE_OUT_DIR (default ./out), AWS_REGION, SAGEWIRE_UPDATE_DELAY_SECONDS (2),
        SAGEWIRE_CREATE_DELAY_SECONDS (1), SAGEWIRE_SCHEDULE_SECONDS (10: how often scheduled
        handlers such as `reconcile` run locally)."""
        env = os.environ
        return cls(
            project_dir=PROJECT_DIR,
            out_dir=Path(env.get("SAGEWIRE_OUT_DIR") or PROJECT_DIR / "out").resolve(),
            api_port=_port("SAGEWIRE_API_PORT", default_api_port),
            aws_port=_port("SAGEWIRE_AWS_PORT", 0),
            runtime_port=_port("SAGEWIRE_RUNTIME_PORT", 0),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            update_delay_seconds=_seconds("SAGEWIRE_UPDATE_DELAY_SECONDS", 2.0),
            create_delay_seconds=_seconds("SAGEWIRE_CREATE_DELAY_SECONDS", 1.0),
            schedule_seconds=_seconds("SAGEWIRE_SCHEDULE_SECONDS", 10.0, minimum=0.1),
        )


@dataclass(frozen=True)
class StackState:
    """What a running stack writes to out/devstack.json so other commands can find it."""

    pid: int
    api_url: str
    aws_endpoint_url: str
    runtime_endpoint_url: str
    control_url: str
    region: str
    table: str
    bucket: str
    # Lambda's on-failure destination: events whose retries ran out (`python -m ops.dlq`).
    dead_letter_queue_url: str = ""
    # Each uploaded channel's S3 prefix ("diabetes/train" -> s3://<bucket>/datasets/...).
    datasets: dict[str, str] = field(default_factory=dict)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> StackState:
        return cls(**json.loads(path.read_text()))

    def use_environment(self) -> None:
        """Points boto3 (standard variables only) at this stack, with fake credentials."""
        use_local_aws(self.region)
        os.environ["AWS_ENDPOINT_URL"] = self.aws_endpoint_url
        os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = self.runtime_endpoint_url


class _QuietRequestHandler(ChaliceRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log line on stderr."""


def use_local_aws(region: str) -> None:
    """Fake credentials and no inherited endpoint overrides: nothing can reach a real account."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in (
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        ):
            del os.environ[name]
    os.environ.update(FAKE_CREDENTIALS)
    os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = region


class Stack:
    def __init__(self, settings: StackSettings, access_log: bool = True) -> None:
        self.settings = settings
        self._access_log = access_log
        self._stoppers: list[tuple[str, Callable[[], None]]] = []
        self._state: StackState | None = None
        self._router: EventRouter | None = None
        self._jobs: LocalSageMaker | None = None

    @property
    def state(self) -> StackState:
        if self._state is None:
            raise StackError("the stack is not started")
        return self._state

    @property
    def router(self) -> EventRouter:
        if self._router is None:
            raise StackError("the stack is not started")
        return self._router

    @property
    def jobs(self) -> LocalSageMaker:
        if self._jobs is None:
            raise StackError("the stack is not started")
        return self._jobs

    @property
    def api_url(self) -> str:
        return self.state.api_url

    @property
    def state_file(self) -> Path:
        return self.settings.out_dir / STATE_FILE

    def start(self) -> StackState:
        settings = self.settings
        use_local_aws(settings.region)
        control = ControlPlane(
            settings.aws_port, settings.update_delay_seconds, settings.create_delay_seconds
        )
        control.start()
        self._stoppers.append(("AWS control plane", control.stop))
        os.environ["AWS_ENDPOINT_URL"] = control.url
        print(f"devstack: AWS control plane (moto + SageMaker and S3 shims) on {control.url}")

        runtime = RuntimeServer(settings.region, settings.runtime_port)
        runtime.start()
        self._stoppers.append(("sagemaker-runtime", runtime.stop))
        os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = runtime.url
        print(f"devstack: sagemaker-runtime on {runtime.url}")

        app, table, bucket, api_url = self._start_api()
        session = boto3.session.Session(region_name=settings.region)
        sqs = session.client("sqs")
        queue = sqs.create_queue(QueueName=dead_letter_queue_name(app.app_name, settings.stage))
        dead_letters = SqsDestination(sqs, queue["QueueUrl"])
        router = EventRouter.for_app(
            app,
            settings.stage,
            region=settings.region,
            schedule_seconds=settings.schedule_seconds,
            dead_letter_sink=dead_letters,
        )
        router.start()
        self._stoppers.append(("event router", router.stop))
        jobs = LocalSageMaker(session.client("sagemaker"), session.client("s3"), bucket, router)
        control.attach(router, ControlApi(jobs, router), functions=router)
        control.training.attach(jobs)
        control.tuning.attach(TuningJobs(jobs))
        uploaded = time.perf_counter()
        data = datasets.upload(session.client("s3"), bucket)
        print(
            f"devstack: data sets for your own jobs in s3://{bucket}/{datasets.PREFIX}/: "
            f"{', '.join(sorted({name.split('/')[0] for name in data}))} "
            f"[{time.perf_counter() - uploaded:.1f}s]"
        )
        self._router, self._jobs = router, jobs
        every = f"every {settings.schedule_seconds:g}s"
        handlers = ", ".join(
            f"{rule.name} ({every if rule.schedule else 'pattern'})" for rule in router.rules
        )
        print(f"devstack: event router delivering to {handlers or 'no handlers'}")
        print(
            f"devstack: dead letters (retries exhausted) to SQS {dead_letters.queue_url}; "
            "Lambda's Invoke API runs the app's functions"
        )
        self._state = StackState(
            pid=os.getpid(),
            api_url=api_url,
            aws_endpoint_url=control.url,
            runtime_endpoint_url=runtime.url,
            control_url=control.url + CONTROL_PREFIX.rstrip("/"),
            region=settings.region,
            table=table,
            bucket=bucket,
            dead_letter_queue_url=dead_letters.queue_url,
            datasets=data,
        )
        self._state.write(self.state_file)
        self._stoppers.append(("state file", self._remove_state_file))
        return self._state

    def _start_api(self) -> tuple[Chalice, str, str, str]:
        """`chalice local --no-autoreload --stage <stage>`, on a thread of this process."""
        settings = self.settings
        os.environ["AWS_CHALICE_CLI_MODE"] = "true"
        factory = CLIFactory(str(settings.project_dir), environ=os.environ)
        config = factory.create_config_obj(chalice_stage_name=settings.stage)
        environment = config.environment_variables
        table, bucket = environment["SAGEWIRE_TABLE"], environment["SAGEWIRE_BUCKET"]
        session = boto3.session.Session(region_name=settings.region)
        session.client("dynamodb").create_table(TableName=table, **TABLE_SCHEMA)
        s3 = session.client("s3")
        if settings.region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={
                    "LocationConstraint": cast("BucketLocationConstraintType", settings.region)
                },
            )
        # Versions make dataset lineage exact; S3 sends its object events to EventBridge.
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        print(
            f"devstack: created table {table} and bucket {bucket} "
            "(versioned, events to EventBridge)"
        )

        # The local stage's trust policy: the stand-in algorithms' registries in this region
        # and the stack's own bucket; no roles. A stage on AWS names its own (deploy guide).
        # Values the user set win; ours are removed when the stack stops.
        trust = {
            "SAGEWIRE_TRUSTED_IMAGES": ",".join(images.trusted_registries(settings.region)),
            "SAGEWIRE_TRUSTED_ARTIFACTS": f"s3://{bucket}/",
        }
        ours = [name for name in trust if name not in os.environ]
        os.environ.update({name: trust[name] for name in ours})

        def forget_trust() -> None:
            for name in ours:
                os.environ.pop(name, None)

        self._stoppers.append(("trust policy", forget_trust))
        app = config.chalice_app  # imports app.py with the stage's environment variables
        validate_routes(app.routes)
        try:
            # `chalice local` cannot check SigV4 signatures, admits every request and warns.
            warnings.filterwarnings("ignore", "IAMAuthorizer is not a supported", UserWarning)
            server = factory.create_local_server(app, config, "127.0.0.1", settings.api_port)
        except OSError as error:
            raise StackError(
                f"cannot listen on 127.0.0.1:{settings.api_port} ({error.strerror}); "
                "set SAGEWIRE_API_PORT to a free port"
            ) from None
        # Port 0 picks a free port; report the real one. Idle keep-alive handlers must not block.
        server.port = server.server.server_port
        if not self._access_log:
            server.server.RequestHandlerClass = functools.partial(
                _QuietRequestHandler, app_object=app, config=config
            )
        server.server.block_on_close = False
        thread = threading.Thread(
            target=server.server.serve_forever,
            name="devstack-api",
            kwargs={"poll_interval": 0.1},
            daemon=True,
        )
        thread.start()
        url = f"http://127.0.0.1:{server.port}"
        print(f"devstack: sagewire API (chalice local, stage {settings.stage}) on {url}")

        def stop_api() -> None:
            server.shutdown()
            thread.join()
            server.server.server_close()

        self._stoppers.append(("sagewire API", stop_api))
        return app, table, bucket, url

    def _remove_state_file(self) -> None:
        # Another stack may have taken the file over since; only remove our own.
        with contextlib.suppress(OSError, ValueError, TypeError):
            if StackState.read(self.state_file).pid == os.getpid():
                self.state_file.unlink()

    def deploy_demo_projects(self) -> None:
        """Trains and deploys the bootstrapped demo models (as SageMaker jobs, with their events),
        then registers every demo project through the API."""
        state = self.state
        sagemaker = boto3.session.Session(region_name=state.region).client("sagemaker")
        started = time.perf_counter()
        deployed = []
        for project in projects.DEMO_PROJECTS:
            if not project.bootstrap:
                continue
            job = trainer.TrainingJob(
                name=trainer.job_name(project.name),
                algorithm=project.algorithm,
                hyperparameters=project.hyperparameters,
                tags=project.tags,
            )
            report = self.jobs.train(job)
            if report.artifact is None:
                raise StackError(f"training {project.name} failed: {report.failure}")
            projects.deploy(sagemaker, project.name, job, report.artifact)
            deployed.append(project.name)
            metrics = ", ".join(f"{name}={value:.4g}" for name, value in report.metrics.items())
            print(
                f"devstack: {project.name}: trained {project.algorithm} job {job.name} ({metrics})"
            )
        try:
            projects.wait_in_service(sagemaker, deployed, timeout=60)
        except TimeoutError as error:
            raise StackError(str(error)) from None
        # The bootstrap's own events (training, endpoint creation) reach the app before the
        # projects exist, as they would for jobs that ran before a project was defined.
        self.router.wait_idle(60)
        for project in projects.DEMO_PROJECTS:
            response = requests.put(
                f"{state.api_url}/v1/projects/{project.name}", json=project.definition, timeout=30
            )
            if response.status_code not in (200, 201):
                raise StackError(
                    f"registering {project.name} failed: {response.status_code} {response.text}"
                )
        print(
            f"devstack: endpoints {', '.join(deployed)} InService; projects "
            f"{', '.join(p.name for p in projects.DEMO_PROJECTS)} registered "
            f"[{time.perf_counter() - started:.1f}s]"
        )

    def stop(self) -> None:
        """Stops what was started, newest first; safe to call more than once."""
        while self._stoppers:
            name, stop = self._stoppers.pop()
            try:
                stop()
            except Exception as error:  # keep stopping the rest
                print(f"devstack: stopping {name} failed: {error}")

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
