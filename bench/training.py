"""Local training cost per built-in algorithm on the stack's data: wall time and peak memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import Check, Outcome

NAME = "training"
ROOT = Path(__file__).resolve().parent.parent
# Each job trains in a fresh process, so its peak RSS is its own (ru_maxrss never goes down).
CHILD = """\
import json, resource, sys, time
from devstack import algorithms, channels, datasets, digits, trainer, xgboost_builtin
case = sys.argv[1]
objects = datasets.objects()
def read(name, channel):
    body = objects[next(k for k in objects if k.startswith(f"datasets/{name}/{channel}/"))]
    return (channels.read_recordio if name == "digits28" else channels.read_csv)(body)
def numpy_job(algorithm, hyperparameters, train, test):
    held = {"x_test": test.x, "y_test": test.y, "x_validation": test.x, "y_validation": test.y}
    data = channels.Channels(train.x, train.y, **held)
    trained = algorithms.train(algorithm, hyperparameters, data)
    return len(algorithms.pack(trained.model)), trained.metrics
CASES = {
    "kmeans k=10, digits28 (784)": lambda: numpy_job(
        "kmeans", {"k": "10", "feature_dim": "784"}, read("digits28", "train"),
        read("digits28", "test")),
    "linear-learner regressor, diabetes": lambda: numpy_job(
        "linear-learner", {"predictor_type": "regressor", "epochs": "30"},
        read("diabetes", "train"), read("diabetes", "validation")),
    "linear-learner binary, breast cancer": lambda: numpy_job(
        "linear-learner", {"predictor_type": "binary_classifier", "normalize_data": "true"},
        read("breast-cancer", "train"), read("breast-cancer", "validation")),
    "linear-learner demo (digits 8x8, is it a zero?)": lambda: (
        lambda t: (len(algorithms.pack(t.model)), t.metrics))(algorithms.train(
            "linear-learner", {"mini_batch_size": "100"}, trainer.channels("linear-learner"))),
    "softmax demo (digits 8x8, 32 hidden)": lambda: (
        lambda t: (len(algorithms.pack(t.model)), t.metrics))(algorithms.train(
            "softmax", {}, trainer.channels("softmax"))),
    "xgboost reg:squarederror, diabetes, 50 rounds": lambda: (
        lambda r: (len(r[0]), r[1]))(xgboost_builtin.train(
            {"num_round": "50", "max_depth": "3", "eta": "0.1"},
            {"train": read("diabetes", "train"), "validation": read("diabetes", "validation")})),
    "xgboost multi:softprob, digits28, 50 rounds": lambda: (
        lambda r: (len(r[0]), r[1]))(xgboost_builtin.train(
            {"num_round": "50", "objective": "multi:softprob", "num_class": "10",
             "max_depth": "4", "eval_metric": "merror"},
            {"train": read("digits28", "train"), "validation": read("digits28", "test")})),
}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
size, metrics = CASES[case]()
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_kib": peak, "before_kib": before,
                  "artifact_bytes": size, "metrics": metrics}))
"""
CASES = (
    "kmeans k=10, digits28 (784)",
    "linear-learner regressor, diabetes",
    "linear-learner binary, breast cancer",
    "linear-learner demo (digits 8x8, is it a zero?)",
    "softmax demo (digits 8x8, 32 hidden)",
    "xgboost reg:squarederror, diabetes, 50 rounds",
    "xgboost multi:softprob, digits28, 50 rounds",
)


def run() -> list[Outcome]:
    print(f"{NAME}: one fresh process per job; data from devstack.datasets (what serve uploads)")
    print(f"  {'job':<48} {'wall':>9} {'peak RSS':>9} {'+ training':>11} {'artifact':>9}")
    outcomes: list[Outcome] = []
    for case in CASES:
        child = subprocess.run(
            [sys.executable, "-c", CHILD, case],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            print(f"  {case}: failed\n{child.stderr[-2000:]}")
            outcomes.append(Check(NAME, f"{case} trains", False))
            continue
        result = json.loads(child.stdout.splitlines()[-1])
        growth = (result["peak_kib"] - result["before_kib"]) / 1024
        print(
            f"  {case:<48} {result['seconds'] * 1000:>7.0f}ms {result['peak_kib'] / 1024:>7.0f}MB "
            f"{growth:>9.0f}MB {result['artifact_bytes'] / 1024:>7.0f}KB"
        )
        outcomes.append(Check(NAME, f"{case} trains", bool(result["metrics"])))
    return outcomes
