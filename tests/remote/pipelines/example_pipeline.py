"""The example pipeline: numpy arrays in, a scikit-learn model and its score out."""

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression

from zenml_kf import BaseStepConfig, Output, pipeline, step


class TrainerConfig(BaseStepConfig):
    c: float = 1.0


@step
def importer() -> Output(x=np.ndarray, y=np.ndarray):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 8))
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)


@step
def trainer(x: np.ndarray, y: np.ndarray, config: TrainerConfig) -> ClassifierMixin:
    return LogisticRegression(C=config.c, max_iter=200).fit(x, y)


@step
def evaluator(x: np.ndarray, y: np.ndarray, model: ClassifierMixin) -> float:
    return float(model.score(x, y))


@pipeline
def example(importer, trainer, evaluator):
    x, y = importer()
    model = trainer(x=x, y=y)
    evaluator(x=x, y=y, model=model)


p = example(importer=importer(), trainer=trainer(config=TrainerConfig(c=0.5)), evaluator=evaluator())
