"""A scikit-learn script-mode entry point, written as the SageMaker scikit-learn examples are."""

import argparse
import os

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier


def _read(channel: str) -> tuple[np.ndarray, np.ndarray]:
    """Every CSV file of a channel: the label first, no header."""
    files = sorted(name for name in os.listdir(channel) if name.endswith(".csv"))
    data = np.vstack([np.loadtxt(os.path.join(channel, name), delimiter=",") for name in files])
    return data[:, 1:], data[:, 0].astype(int)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument("--min-samples-leaf", type=int, default=1)
    parser.add_argument("--model-dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation", type=str, default=os.environ.get("SM_CHANNEL_VALIDATION"))
    args = parser.parse_args()

    x_train, y_train = _read(args.train)
    model = RandomForestClassifier(
        n_estimators=args.n_estimators, min_samples_leaf=args.min_samples_leaf, random_state=0
    )
    model.fit(x_train, y_train)
    print(f"train:accuracy={model.score(x_train, y_train):.6f}")
    if args.validation:
        x_valid, y_valid = _read(args.validation)
        print(f"validation:accuracy={model.score(x_valid, y_valid):.6f}")
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))


def model_fn(model_dir: str) -> RandomForestClassifier:
    """Loads the model for hosting; the toolkit's default input, predict and output do the rest."""
    return joblib.load(os.path.join(model_dir, "model.joblib"))
