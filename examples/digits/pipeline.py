"""Classify handwritten digits: importer -> splitter -> trainer -> evaluator.

Uses scikit-learn's bundled digits data (no download). Run it with

    zenml run examples/digits/pipeline.py:digits_pipeline_run

or `python examples/digits/pipeline.py`, then again to see every step come from the cache.
"""

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from zenml_kf import BaseStepConfig, Output, pipeline, step


class SplitterConfig(BaseStepConfig):
    test_size: float = 0.2
    seed: int = 42


class TrainerConfig(BaseStepConfig):
    gamma: float = 0.001
    C: float = 10.0


@step
def importer() -> Output(images=np.ndarray, labels=np.ndarray):
    """8x8 grey-scale digit images, flattened to 64 features."""
    digits = load_digits()
    return digits.data, digits.target


@step
def splitter(images: np.ndarray, labels: np.ndarray, config: SplitterConfig) -> Output(
    X_train=np.ndarray, X_test=np.ndarray, y_train=np.ndarray, y_test=np.ndarray
):
    X_train, X_test, y_train, y_test = train_test_split(
        images, labels, test_size=config.test_size, random_state=config.seed, stratify=labels
    )
    return X_train, X_test, y_train, y_test


@step
def trainer(X_train: np.ndarray, y_train: np.ndarray, config: TrainerConfig) -> ClassifierMixin:
    model = SVC(gamma=config.gamma, C=config.C)
    model.fit(X_train, y_train)
    return model


@step
def evaluator(X_test: np.ndarray, y_test: np.ndarray, model: ClassifierMixin) -> float:
    accuracy = float(model.score(X_test, y_test))
    print(f"Test accuracy: {accuracy:.4f}")
    return accuracy


@pipeline
def digits_pipeline(importer, splitter, trainer, evaluator):
    """Train an SVM on scikit-learn's digits and report its test accuracy."""
    images, labels = importer()
    X_train, X_test, y_train, y_test = splitter(images=images, labels=labels)
    model = trainer(X_train=X_train, y_train=y_train)
    evaluator(X_test=X_test, y_test=y_test, model=model)


digits_pipeline_run = digits_pipeline(
    importer=importer(),
    splitter=splitter(),
    trainer=trainer(config=TrainerConfig(gamma=0.001)),
    evaluator=evaluator(),
)

if __name__ == "__main__":
    run = digits_pipeline_run.run()
    print(f"Run {run.id}: accuracy {run.get_step('evaluator').output.read():.4f}")
