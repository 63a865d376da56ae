"""The demo's model-kind stories: a scikit-learn script-mode model, an XGBoost regressor and an
Experiments trial ranked by a metric's max, each trained as the SageMaker examples train it,
auto-promoted by sagewire and predicting through sagewire's route."""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from devstack import algorithms, digits, images, projects, trainer
from devstack.containers import PACKED_CODE
from devstack.demo_boto3 import FAST, Boto3Stories, channel
from devstack.demo_client import Api, DemoFailure, settle, show, train_in_stack
from devstack.experiments import TRAINING_COMPONENT_SUFFIX
from devstack.jobs import ROLE_ARN
from devstack.samples import first_of
from devstack.stack import Stack

SKLEARN = "digits-sklearn"
SKLEARN_JOB = "digits-sklearn-rf"
MIN_SKLEARN_ACCURACY = 0.9
XGBOOST = "diabetes-xgboost"
XGBOOST_JOB = "diabetes-xgboost-reg"
# Predicting the training mean scores an RMSE of about 70 on the held-out diabetes rows.
MAX_XGBOOST_RMSE = 62.0
PEAK = "digits-peak"
# The stack's softmax trainer measures its accuracy on the validation channel (the held-out
# digits) after every epoch; the SageMaker example's script calls the same number test:accuracy.
PEAK_METRIC = "validation:accuracy"
# 10 epochs each: lr 0.3 peaks at 0.964 in epoch 9 and ends at 0.944; lr 0.4 with 32 hidden
# channels ends at its best, 0.958. By the final value the second wins, by the max the first.
PEAK_TRIALS = {
    f"{PEAK}-lr03-h16": {"lr": "0.3", "hidden_channels": "16"},
    f"{PEAK}-lr04-h32": {"lr": "0.4", "hidden_channels": "32"},
    f"{PEAK}-lr04-h16": {"lr": "0.4", "hidden_channels": "16"},
}
PEAK_STATIC = {"batch-size": "64", "epochs": "10"}
MIN_PEAK_ACCURACY = 0.9


def _definition(
    name: str,
    match: dict[str, Any],
    objective: dict[str, Any],
    inference: dict[str, Any],
) -> dict[str, Any]:
    return {
        "name": name,
        "match": match,
        "objective": objective,
        "endpoint": {
            "name": name,
            "instance_type": projects.INSTANCE_TYPE,
            "instance_count": 1,
            "execution_role_arn": ROLE_ARN,
            "strategy": {"type": "all_at_once"},
        },
        "inference": inference,
    }


def _regressor_definition(name: str) -> dict[str, Any]:
    """A project of the XGBoost example's diabetes regressors (tagged Project=`name`), ranked by
    validation RMSE, answering CSV rows with their values."""
    return _definition(
        name,
        {"tags": {"Project": name}},
        {"metric": "validation:rmse", "goal": "minimize"},
        {
            "input": {"shape": [10]},
            "request": {"content_type": "text/csv"},
            "response": {"accept": "text/csv", "postprocess": "regression"},
        },
    )


@dataclass(frozen=True)
class Serving:
    """What an endpoint serves, as DescribeEndpoint, -EndpointConfig and -Model tell it."""

    status: str
    config: str
    model: str
    image: str
    artifact: str
    environment: dict[str, str]
    # The training job behind the model: the `sagewire:run` tag sagewire puts on its models.
    run: str


@dataclass(frozen=True)
class Outcome:
    """What a story saw: the champion sagewire chose, what serves, and how well it predicted
    through sagewire (accuracy, or RMSE for the regressor); the leaderboard's order if shown."""

    champion: str
    objective: float
    serving: Serving
    score: float
    ranked: tuple[str, ...] = ()


class ModelKindStories(Boto3Stories):
    """Each story registers its project through the API before its job ends, trains as the
    SageMaker examples do, lets SageMaker's events reach sagewire, and checks what sagewire
    promoted and how well it predicts through sagewire's prediction route."""

    def __init__(self, stack: Stack, api: Api) -> None:
        super().__init__(stack, api)
        self.seconds: dict[str, float] = {}

    @property
    def api(self) -> Api:
        return self._api

    # --- helpers ---

    def _serving(self, endpoint: str) -> Serving:
        """Waits for the endpoint sagewire created or updated, then what it serves."""
        self._sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint, WaiterConfig=FAST
        )
        described = self._sagemaker.describe_endpoint(EndpointName=endpoint)
        config = self._sagemaker.describe_endpoint_config(
            EndpointConfigName=described["EndpointConfigName"]
        )
        (variant,) = config["ProductionVariants"]
        model = self._sagemaker.describe_model(ModelName=variant["ModelName"])
        container = model["PrimaryContainer"]
        return Serving(
            status=described["EndpointStatus"],
            config=described["EndpointConfigName"],
            model=variant["ModelName"],
            image=container.get("Image", ""),
            artifact=container.get("ModelDataUrl", ""),
            environment=dict(container.get("Environment", {})),
            run=next(
                (
                    tag["Value"]
                    for tag in self._sagemaker.list_tags(ResourceArn=model["ModelArn"])["Tags"]
                    if tag["Key"] == "sagewire:run"
                ),
                "",
            ),
        )

    def _promoted(self, project: str, run: str) -> tuple[dict[str, Any], Serving]:
        """The project's champion and what its endpoint serves; DemoFailure unless both are
        `run`."""
        champion = self._api.champion(project)["champion"]
        if champion is None or champion["run_name"] != run:
            raise DemoFailure(f"{project}: champion {champion and champion['run_name']}, not {run}")
        serving = self._serving(project)
        if serving.run != run or serving.config != champion["endpoint_config_name"]:
            raise DemoFailure(f"{project}: the endpoint serves {serving}, not {run}")
        return champion, serving

    def _held_out_rows(self, name: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """A tabular data set's validation rows from the stack's bucket: features and labels."""
        body = self._dataset_text(f"{name}/validation")
        data = np.loadtxt(io.StringIO(body), delimiter=",", ndmin=2)
        return data[:, 1:], data[:, 0]

    # --- the stories ---

    def sklearn_script_mode(self) -> Outcome:
        """The scikit-learn example's estimator (train.py in sourcedir.tar.gz on the
        sagemaker-scikit-learn image), tagged for a project: sagewire promotes it itself, with
        the image and SAGEMAKER_PROGRAM / SAGEMAKER_SUBMIT_DIRECTORY that deploy() would use."""
        started = time.perf_counter()
        split = digits.load_split()
        # The scikit-learn digits example's own units: 8x8 pixels 0..16, the label first.
        for name, x, y in (
            ("train", split.x_train, split.y_train),
            ("validation", split.x_test, split.y_test),
        ):
            rows = "".join(
                f"{label}," + ",".join(str(int(v)) for v in row) + "\n"
                for label, row in zip(y.tolist(), x, strict=True)
            )
            self._s3.put_object(
                Bucket=self._bucket, Key=f"{SKLEARN}/{name}/digits.csv", Body=rows.encode()
            )
        code = self._source_dir(SKLEARN)
        # train.py's model_fn answers the forest; the toolkit's default predict_fn answers
        # model.predict(rows), one class label per row: "raw" passes each label on.
        self._api.put_project(
            _definition(
                SKLEARN,
                {"tags": {"Project": SKLEARN}},
                {"metric": "validation:accuracy", "goal": "maximize"},
                {
                    "input": {
                        "shape": [digits.SIDE, digits.SIDE],
                        "flatten": True,
                        # CSV rows come in the model's units (0..16); images as 0..255 pixels.
                        "features": {"scale": 1.0},
                        "image": {"scale": digits.PIXEL_SCALE / digits.MAX_VALUE},
                    },
                    "request": {"content_type": "text/csv"},
                    "response": {"accept": "application/json", "postprocess": "raw"},
                },
            )
        )
        image = images.sklearn_image(self._region)
        metrics = self._train_script_mode(
            SKLEARN_JOB,
            SKLEARN,
            code,
            [
                channel(name, f"s3://{self._bucket}/{SKLEARN}/{name}/", "text/csv")
                for name in ("train", "validation")
            ],
            {"Project": SKLEARN},
            role=ROLE_ARN,
        )
        settle(self._stack)
        champion, serving = self._promoted(SKLEARN, SKLEARN_JOB)
        show(
            f"(e) {SKLEARN_JOB}: train.py in sourcedir.tar.gz on {image.split('/', 1)[1]}, "
            f"plain boto3, tagged Project={SKLEARN} (validation:accuracy="
            f"{metrics['validation:accuracy']:.3f})",
            f"champion {champion['run_name']}; endpoint {SKLEARN} {serving.status}, model "
            f"{serving.model}: image {serving.image}, environment {serving.environment}, "
            f"artifact {serving.artifact} (the job's model.tar.gz with sourcedir.tar.gz packed "
            "under code/: the model runs with network isolation)",
        )
        # Under network isolation (the stage's default) the container cannot download
        # sourcedir.tar.gz: sagewire packs it into the model's own artifact, as deploy() does.
        expected = {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": PACKED_CODE}
        packed = f"s3://{self._bucket}/models/{serving.model}/model.tar.gz"
        if (
            serving.image != image
            or serving.artifact != packed
            or any(serving.environment.get(k) != v for k, v in expected.items())
        ):
            raise DemoFailure(f"{SKLEARN}: the model is not created as deploy() would: {serving}")

        x, y = split.x_test, split.y_test
        csv = "".join(",".join(str(int(v)) for v in row) + "\n" for row in x).encode()
        answer = self._api.predict(SKLEARN, csv, "text/csv")
        labels = np.array([int(p["output"]) for p in answer["predictions"]])
        accuracy = float(np.mean(labels == y))
        seven = digits.image_bytes(x[first_of(7)], "PNG")
        (png,) = self._api.predict(SKLEARN, seven, "image/png")["predictions"]
        self.seconds["sklearn_script_mode"] = time.perf_counter() - started
        show(
            f"{len(y)} held-out digits as CSV rows (0..16) and a held-out 7 as a PNG (0..255) "
            f"-> POST /v1/projects/{SKLEARN}/predictions",
            f"first 10 {labels[:10].tolist()} (true {y[:10].tolist()}); accuracy "
            f"{accuracy:.3f}; the PNG -> {png['output']} "
            f"[{self.seconds['sklearn_script_mode']:.1f}s]",
        )
        if accuracy < MIN_SKLEARN_ACCURACY or int(png["output"]) != 7:
            raise DemoFailure(f"{SKLEARN}: implausible predictions (accuracy {accuracy:.3f})")
        return Outcome(SKLEARN_JOB, champion["objective_value"], serving, accuracy)

    def xgboost_regressor(self) -> Outcome:
        """The XGBoost example's regressor on tabular rows (scikit-learn's diabetes data,
        reg:squarederror), promoted by sagewire, answering CSV and JSON rows through it."""
        started = time.perf_counter()
        self._api.put_project(_regressor_definition(XGBOOST))
        image = images.image_uri(images.XGBOOST, self._region, "1.7-1")
        metrics = self._train_regressor(XGBOOST_JOB, XGBOOST, max_depth=3)
        settle(self._stack)
        champion, serving = self._promoted(XGBOOST, XGBOOST_JOB)
        if abs(champion["objective_value"] - metrics["validation:rmse"]) > 1e-9:
            raise DemoFailure(f"{XGBOOST}: the champion's objective is not the job's rmse")
        show(
            f"(f) {XGBOOST_JOB}: XGBoost 1.7-1 reg:squarederror on diabetes, plain boto3, tagged "
            f"Project={XGBOOST}",
            f"champion {champion['run_name']} (validation:rmse="
            f"{champion['objective_value']:.2f}); endpoint {XGBOOST} {serving.status}, model "
            f"{serving.model}: image {serving.image}",
        )
        if serving.image != image:
            raise DemoFailure(f"{XGBOOST}: the model serves from {serving.image}, not {image}")

        x, y = self._held_out_rows("diabetes")
        csv = "".join(",".join(repr(float(v)) for v in row) + "\n" for row in x).encode()
        by_csv = np.array(
            [p["value"] for p in self._api.predict(XGBOOST, csv, "text/csv")["predictions"]]
        )
        body = json.dumps({"instances": x[:5].tolist()}).encode()
        by_json = np.array(
            [
                p["value"]
                for p in self._api.predict(XGBOOST, body, "application/json")["predictions"]
            ]
        )
        rmse = float(np.sqrt(np.mean((by_csv - y) ** 2)))
        train_mean = self._train_mean("diabetes")
        baseline = float(np.sqrt(np.mean((train_mean - y) ** 2)))
        self.seconds["xgboost_regressor"] = time.perf_counter() - started
        show(
            f"{len(y)} held-out diabetes rows as CSV, and 5 as JSON instances -> "
            f"POST /v1/projects/{XGBOOST}/predictions",
            f"first 3 {np.round(by_csv[:3], 1).tolist()} (true {y[:3].tolist()}); RMSE "
            f"{rmse:.2f} vs {baseline:.2f} predicting the training mean; JSON agrees "
            f"[{self.seconds['xgboost_regressor']:.1f}s]",
        )
        if len(by_csv) != len(y) or rmse > MAX_XGBOOST_RMSE or rmse >= baseline:
            raise DemoFailure(f"{XGBOOST}: RMSE {rmse:.2f} (the mean scores {baseline:.2f})")
        if not np.allclose(by_json, by_csv[:5], rtol=1e-4):
            raise DemoFailure(f"{XGBOOST}: JSON rows {by_json} != CSV rows {by_csv[:5]}")
        return Outcome(XGBOOST_JOB, champion["objective_value"], serving, rmse)

    def _train_regressor(self, job: str, project: str, max_depth: int) -> dict[str, float]:
        """The XGBoost example's regressor on diabetes (XGBoost 1.7-1, reg:squarederror),
        tagged Project=`project`, output under `<project>/output`; its final metrics."""
        return self._train(
            job,
            {"Project": project},
            role=ROLE_ARN,
            AlgorithmSpecification={
                "TrainingImage": images.image_uri(images.XGBOOST, self._region, "1.7-1"),
                "TrainingInputMode": "File",
            },
            HyperParameters={
                "objective": "reg:squarederror",
                "num_round": "50",
                "max_depth": str(max_depth),
                "eta": "0.1",
                "subsample": "0.8",
            },
            InputDataConfig=[
                channel(name, self._datasets[f"diabetes/{name}"], "text/csv")
                for name in ("train", "validation")
            ],
            OutputDataConfig={"S3OutputPath": f"s3://{self._bucket}/{project}/output"},
        )

    def _train_mean(self, name: str) -> float:
        body = self._dataset_text(f"{name}/train")
        return float(np.loadtxt(io.StringIO(body), delimiter=",", ndmin=2)[:, 0].mean())

    def experiment_by_max(self) -> Outcome:
        """Softmax trials in one experiment, each logging its accuracy per epoch to its trial
        component; the project ranks them by the accuracy's max over the epochs."""
        started = time.perf_counter()
        self._api.put_project(
            _definition(
                PEAK,
                {"experiment_name": PEAK},
                {"metric": PEAK_METRIC, "goal": "maximize", "statistic": "max"},
                {"input": projects.CLASSIFIER_INPUT, **projects.CLASSIFIER_IO},
            )
        )
        for trial, hyperparameters in PEAK_TRIALS.items():
            job = trainer.TrainingJob(
                trial,
                algorithms.SOFTMAX,
                {**hyperparameters, **PEAK_STATIC},
                experiment=PEAK,
                trial=trial,
            )
            train_in_stack(self._stack, job)
        settle(self._stack)
        statistics = {}
        for trial in PEAK_TRIALS:
            component = self._sagemaker.describe_trial_component(
                TrialComponentName=trial + TRAINING_COMPONENT_SUFFIX
            )
            (metric,) = [m for m in component.get("Metrics", []) if m["MetricName"] == PEAK_METRIC]
            statistics[trial] = (float(metric["Max"]), float(metric["Last"]))
        by_max = max(PEAK_TRIALS, key=lambda t: statistics[t][0])
        by_last = max(PEAK_TRIALS, key=lambda t: statistics[t][1])
        sort = f"{PEAK_METRIC}.max"
        show(
            f"(g) experiment {PEAK}: 3 softmax trials ({', '.join(PEAK_TRIALS)}), each logging "
            f"{PEAK_METRIC} per epoch to its trial component; project objective {PEAK_METRIC} "
            "max",
            f"GET /v1/projects/{PEAK}/leaderboard?sort=Metrics.{sort}:",
        )
        runs = self._api.leaderboard(PEAK, sort)
        for rank, run in enumerate(runs, start=1):
            logged = run.get("metric_statistics", {}).get(PEAK_METRIC, {})
            print(
                f"        #{rank} {run['name']}: {PEAK_METRIC} max {logged.get('max', '-')}, "
                f"final {run['metrics'].get(PEAK_METRIC)}"
            )
        ranked = [str(run["name"]) for run in runs]
        champion, serving = self._promoted(PEAK, by_max)
        split = digits.load_split()
        x, y = split.x_test, split.y_test
        body = json.dumps({"instances": digits.to_pixels(x).tolist()}).encode()
        labels = [
            int(p["label"])
            for p in self._api.predict(PEAK, body, "application/json")["predictions"]
        ]
        accuracy = float(np.mean(np.array(labels) == y))
        self.seconds["experiment_by_max"] = time.perf_counter() - started
        by_final = (
            f"by the final value {by_last} would have won, {statistics[by_last][1]:.4f} > "
            f"{statistics[by_max][1]:.4f}"
            if by_last != by_max
            else "it has the best final value too"
        )
        show(
            f"{PEAK} after its trials",
            f"champion {champion['run_name']} (objective {champion['objective_value']:.4f}, the "
            f"best max; {by_final}); endpoint {PEAK} serves {serving.run}; {len(y)} held-out "
            f"digits -> accuracy {accuracy:.3f} "
            f"[{self.seconds['experiment_by_max']:.1f}s]",
        )
        if ranked != sorted(PEAK_TRIALS, key=lambda t: -statistics[t][0]):
            raise DemoFailure(f"{PEAK}: the leaderboard is not ranked by the max: {ranked}")
        if abs(champion["objective_value"] - statistics[by_max][0]) > 1e-9:
            raise DemoFailure(f"{PEAK}: the champion's objective is not its max")
        if accuracy < MIN_PEAK_ACCURACY:
            raise DemoFailure(f"{PEAK}: implausible accuracy {accuracy:.3f}")
        return Outcome(by_max, champion["objective_value"], serving, accuracy, tuple(ranked))
