"""The demo's lineage stories: an experiment, its lineage both ways, batch files and reports."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np

from devstack import algorithms, digits, projects, trainer
from devstack.demo_client import (
    IDLE_TIMEOUT,
    Api,
    DemoFailure,
    print_leaderboard,
    settle,
    show,
    train_in_stack,
)
from devstack.experiments import (
    PREPROCESSING,
    TRAINING_COMPONENT_SUFFIX,
    preprocessing_component_name,
)
from devstack.jobs import DATASET_PREFIX
from devstack.stack import Stack

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.client import SageMakerClient

HIDDEN = projects.HIDDEN_EXPERIMENT
HIDDEN_CHANNELS = ("4", "8", "16", "32", "64")
OBJECTIVE = "validation:accuracy"
CLASSIFIER = "digits-classifier"
KMEANS = "digits-kmeans"
BATCH_DIGITS = 100
MIN_BATCH_ACCURACY = 0.9
MIN_CLUSTER_PURITY = 0.6
REPORT_FILES = ("latest.json", "latest.html", "latest.csv", "latest.openlineage.jsonl")


class LineageStories:
    """Each story runs real jobs or writes real objects in the stack, lets the events reach the
    app, and shows what the app's API (or its reports in S3) says about them."""

    def __init__(self, stack: Stack, api: Api) -> None:
        self._stack = stack
        self._api = api
        self._bucket = stack.state.bucket
        session = boto3.session.Session(region_name=stack.state.region)
        self._sagemaker: SageMakerClient = session.client("sagemaker")
        self._s3: S3Client = session.client("s3")
        self._held_out = digits.load_split()

    def hidden_experiment(self) -> str:
        """Five trials of one experiment, one preprocessing component shared by all; the project
        matching the experiment deploys the best. Returns the champion's run name."""
        runs = [f"{HIDDEN}-{channels}" for channels in HIDDEN_CHANNELS]
        for run, channels in zip(runs, HIDDEN_CHANNELS, strict=True):
            job = trainer.TrainingJob(
                run,
                algorithms.SOFTMAX,
                {"hidden_channels": channels, "epochs": "30"},
                experiment=HIDDEN,
                trial=run,
            )
            train_in_stack(self._stack, job)
        settle(self._stack)
        preprocessing = preprocessing_component_name(HIDDEN)
        for run in runs:
            summaries = self._sagemaker.list_trial_components(TrialName=run)
            names = [s["TrialComponentName"] for s in summaries["TrialComponentSummaries"]]
            if names != [preprocessing, run + TRAINING_COMPONENT_SUFFIX]:
                raise DemoFailure(f"trial {run} has components {names}")
        described = self._sagemaker.describe_trial_component(TrialComponentName=preprocessing)
        parameters = {k: v.get("NumberValue") for k, v in described["Parameters"].items()}
        show(
            f"(d) experiment {HIDDEN}: 5 softmax trials over hidden_channels "
            f"{', '.join(HIDDEN_CHANNELS)}, each with the shared trial component {preprocessing}",
            f"{described['DisplayName']} parameters {parameters} (computed from the training "
            f"data); each trial also holds its job's '<job>{TRAINING_COMPONENT_SUFFIX}' component",
        )
        if described["DisplayName"] != PREPROCESSING:
            raise DemoFailure(f"{preprocessing} is not the preprocessing component")
        scores = {run: self._final_metric(run) for run in runs}
        champion = self._api.champion(HIDDEN)["champion"]
        serving = self._serving(HIDDEN)
        show(
            f"{HIDDEN} (project matching experiment_name={HIDDEN}) after its trials",
            f"champion {champion['run_name']} ({OBJECTIVE}={champion['objective_value']}); "
            f"endpoint {HIDDEN} serves {serving}",
        )
        if champion["objective_value"] != max(scores.values()) or set(serving.values()) != {
            champion["run_name"]
        }:
            raise DemoFailure(f"{HIDDEN}: the best trial does not serve ({scores})")
        return str(champion["run_name"])

    def _final_metric(self, job: str) -> float:
        described = self._sagemaker.describe_training_job(TrainingJobName=job)
        values = {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList", [])}
        return float(values[OBJECTIVE])

    def _serving(self, endpoint: str) -> dict[str, str]:
        """Each variant of the endpoint's current config and its model."""
        described = self._sagemaker.describe_endpoint(EndpointName=endpoint)
        config = self._sagemaker.describe_endpoint_config(
            EndpointConfigName=described["EndpointConfigName"]
        )
        models = {}
        for variant in config["ProductionVariants"]:
            model = self._sagemaker.describe_model(ModelName=variant["ModelName"])
            url = model["PrimaryContainer"]["ModelDataUrl"]
            models[variant["VariantName"]] = url.split("/")[-3]  # models/<job>/output/...
        return models

    def hidden_leaderboard(self, champion: str) -> None:
        """The experiment's trials ranked by the app, filtered on a hyperparameter."""
        filters = (f"HyperParameters.hidden_channels>={HIDDEN_CHANNELS[1]}",)
        show(
            f"GET /v1/projects/{HIDDEN}/leaderboard?sort=Metrics.{OBJECTIVE}&filter={filters[0]}",
            f"{len(HIDDEN_CHANNELS) - 1} of the 5 trials, best first:",
        )
        runs = self._api.leaderboard(HIDDEN, OBJECTIVE, filters)
        ranked = print_leaderboard(runs, OBJECTIVE)
        values = [run["metrics"][OBJECTIVE] for run in runs]
        expected = {f"{HIDDEN}-{channels}" for channels in HIDDEN_CHANNELS[1:]}
        if set(ranked) != expected or values != sorted(values, reverse=True):
            raise DemoFailure(f"{HIDDEN}: leaderboard {ranked} is not the filtered ranking")
        if values[0] != self._final_metric(champion):
            raise DemoFailure(f"{HIDDEN}: the leaderboard's #1 is not as good as the champion")

    def endpoint_lineage(self, champion: str) -> None:
        """GET /v1/lineage/endpoints/{endpoint}: what exactly serves, back to the data."""
        lineage = self._api.get(f"/v1/lineage/endpoints/{HIDDEN}")
        show(
            f"GET /v1/lineage/endpoints/{HIDDEN}",
            f"endpoint {lineage['endpoint']} ({lineage['status']}) -> config "
            f"{lineage['config_name']} (project {lineage['project']})",
        )
        (variant,) = lineage["variants"]
        model = variant["model"]
        training = model["training"] or {}
        run = training.get("run") or {}
        print(
            f"        variant {variant['name']} (weight {variant['weight']}, "
            f"{variant['traffic_share']:.0%} of traffic) -> model {model['name']}"
        )
        print(f"        artifact {model['artifact']} (image {model['image']})")
        print(f"        run {model['run_name']} (found by {model['run_source']})")
        for channel in training.get("inputs", []):
            versions = ", ".join(
                f"{v['uri'].rsplit('/', 1)[-1]} version {v['version_id']} etag {v['etag']}"
                for v in channel["versions"]
            )
            print(
                f"        dataset {channel['name']}: {channel['s3_uri']} ({channel['provenance']})"
                f": {versions or '-'}"
            )
        print(f"        hyperparameters {run.get('hyperparameters')}")
        print(f"        metrics {run.get('metrics')}")
        components = {c["display_name"]: c for c in training.get("trial_components", [])}
        preprocessing = components.get(PREPROCESSING, {}).get("parameters", {})
        print(
            f"        trial component {PREPROCESSING}: mean {preprocessing.get('mean')}, "
            f"std {preprocessing.get('std')}, scale {preprocessing.get('scale')}"
        )
        inference = lineage["inference"] or {}
        print(f"        inference spec sha256 {inference.get('sha256')}")
        train = next(c for c in training.get("inputs", []) if c["name"] == "train")
        current = self._s3.head_object(
            Bucket=self._bucket, Key=f"{DATASET_PREFIX}/train/digits.csv"
        )
        mean, std = digits.normalization()
        if model["run_name"] != champion or run.get("name") != champion:
            raise DemoFailure(f"{HIDDEN}: the lineage names {model['run_name']}, not {champion}")
        if current["VersionId"] not in {v["version_id"] for v in train["versions"]}:
            raise DemoFailure(f"{HIDDEN}: the training data's S3 version is not in the lineage")
        if (preprocessing.get("mean"), preprocessing.get("std")) != (mean, std):
            raise DemoFailure(f"{HIDDEN}: the preprocessing parameters are not the trial's")
        if len(str(inference.get("sha256"))) != 64:
            raise DemoFailure(f"{HIDDEN}: no inference spec hash")

    def dataset_lineage(self, champion: str) -> None:
        """GET /v1/lineage/datasets?uri=...: every run that read the data, and where it went."""
        uri = f"s3://{self._bucket}/{DATASET_PREFIX}/"
        lineage = self._api.get("/v1/lineage/datasets", {"uri": uri})
        runs = lineage["runs"]
        serving = sorted(
            f"{run['run_name']} -> {deployment['endpoint']}"
            for run in runs
            for deployment in run["deployments"]
            if deployment["serving"]
        )
        show(
            f"GET /v1/lineage/datasets?uri={uri}",
            f"{len(runs)} runs read it; serving now: {'; '.join(serving)}",
        )
        if f"{champion} -> {HIDDEN}" not in serving:
            raise DemoFailure(f"{uri}: the lineage does not show {champion} serving {HIDDEN}")

    def kmeans_batch(self) -> None:
        """100 held-out digits in one request; how well the clusters separate the digits."""
        x, y = self._held_out.x_test[:BATCH_DIGITS], self._held_out.y_test[:BATCH_DIGITS]
        answer = self._api.predict(KMEANS, digits.csv_rows(x).encode(), "text/csv")
        clusters = [p["closest_cluster"] for p in answer["predictions"]]
        if len(clusters) != BATCH_DIGITS or not all(
            isinstance(c, int) and 0 <= c < 10 for c in clusters
        ):
            raise DemoFailure(f"{KMEANS}: not {BATCH_DIGITS} cluster indexes: {clusters[:5]}...")
        members: dict[int, list[int]] = {}
        for cluster, label in zip(clusters, y, strict=True):
            members.setdefault(cluster, []).append(int(label))
        majority = sum(Counter(labels).most_common(1)[0][1] for labels in members.values())
        purity = majority / BATCH_DIGITS
        show(
            f"{BATCH_DIGITS} held-out digits as CSV -> {KMEANS} (one request)",
            f"closest_cluster for each; {len(members)} clusters, purity {purity:.2f} "
            f"(share of digits in their cluster's most common digit)",
        )
        if purity < MIN_CLUSTER_PURITY:
            raise DemoFailure(f"{KMEANS}: implausible cluster purity {purity:.2f}")

    def batch_file(self) -> None:
        """A CSV of held-out digits dropped under the batch input prefix: S3's event reaches
        on_batch_object, which writes predictions and a manifest under the output prefix."""
        x, y = self._held_out.x_test, self._held_out.y_test
        key = f"batch/input/{CLASSIFIER}/held-out-{time.strftime('%Y%m%dT%H%M%S')}.csv"
        put = self._s3.put_object(
            Bucket=self._bucket, Key=key, Body=digits.csv_rows(x).encode(), ContentType="text/csv"
        )
        settle(self._stack)
        manifest_key, manifest = self._manifest(f"batch/output/{CLASSIFIER}/", key)
        predictions_key = manifest["predictions_key"]
        body = self._s3.get_object(Bucket=self._bucket, Key=predictions_key)["Body"].read()
        lines = sorted(
            (json.loads(line) for line in body.splitlines() if line.strip()),
            key=lambda line: int(line["record"]),
        )
        labels = [int(line["prediction"]["label"]) for line in lines if "prediction" in line]
        if len(labels) != len(y):
            raise DemoFailure(f"{predictions_key}: {len(labels)} predictions for {len(y)} rows")
        accuracy = float(np.mean(np.array(labels) == y))
        show(
            f"s3://{self._bucket}/{key} ({len(y)} held-out digits, version "
            f"{put.get('VersionId')}) -> on_batch_object",
            f"s3://{self._bucket}/{predictions_key} and {manifest_key.rsplit('/', 1)[-1]} "
            f"(counts {manifest['counts']}); accuracy {accuracy:.3f}",
        )
        if accuracy < MIN_BATCH_ACCURACY:
            raise DemoFailure(f"batch predictions: implausible accuracy {accuracy:.3f}")

    def _manifest(self, prefix: str, source_key: str) -> tuple[str, dict[str, Any]]:
        """The manifest under `prefix` whose source is `source_key`."""
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/manifest.json"):
                    continue
                body = self._s3.get_object(Bucket=self._bucket, Key=item["Key"])["Body"].read()
                manifest: dict[str, Any] = json.loads(body)
                if manifest.get("source", {}).get("key") == source_key:
                    return item["Key"], manifest
        raise DemoFailure(f"no manifest under s3://{self._bucket}/{prefix} for {source_key}")

    def lineage_report(self) -> None:
        """The scheduled lineage_report handler, invoked as EventBridge Scheduler would, then
        the reports it wrote, downloaded from S3."""
        rule = next((r for r in self._stack.router.rules if r.name == "lineage_report"), None)
        if rule is None:
            raise DemoFailure("the app has no lineage_report handler")
        delivery = self._stack.router.invoke_schedule(rule)
        if not delivery.wait(IDLE_TIMEOUT):
            raise DemoFailure("lineage_report did not finish")
        (outcome,) = delivery.outcomes
        if outcome.status != "succeeded":
            raise DemoFailure(f"lineage_report {outcome.status}: {outcome.error}")
        directory = self._stack.settings.out_dir / "reports"
        directory.mkdir(parents=True, exist_ok=True)
        sizes = {}
        for name in REPORT_FILES:
            path = directory / name
            self._s3.download_file(self._bucket, f"reports/{name}", str(path))
            sizes[name] = path.stat().st_size
        report = json.loads((directory / "latest.json").read_text())
        openlineage = (directory / "latest.openlineage.jsonl").read_text().splitlines()
        show(
            "Scheduled Event -> lineage_report; reports/latest.* downloaded from "
            f"s3://{self._bucket}/reports/",
            f"{len(report.get('projects', []))} projects, {len(openlineage)} OpenLineage events; "
            + ", ".join(f"{name} {size} B" for name, size in sizes.items()),
        )
        print(f"        HTML report: {_relative(directory / 'latest.html')}")
        if not report.get("projects") or not openlineage:
            raise DemoFailure("the lineage report is empty")


def _relative(path: Path) -> str:
    """The path as a developer would type it from the current directory, when it is below."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)
