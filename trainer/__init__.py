"""The ML core: load a future-skills dataset, train and evaluate a model, save it safely.

Imports nothing from the web or database side, so a worker process can run it alone.
"""

from __future__ import annotations

from trainer.dataset import (
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    NUMERIC_COLUMNS,
    TARGET_CLASSES,
    TARGET_COLUMN,
    Dataset,
    load_dataset,
)
from trainer.errors import DataLoadError, TrainerError, TrainingCancelled, TrainingError
from trainer.generator import GenerationSummary, generate_dataset
from trainer.model_trainer import (
    CLASS_WEIGHTS,
    Hyperparameters,
    ModelTrainer,
    Stage,
    TrainingConfig,
    TrainingResult,
    build_pipeline,
    load_model,
)

__all__ = [
    "CATEGORICAL_COLUMNS",
    "CLASS_WEIGHTS",
    "FEATURE_COLUMNS",
    "NUMERIC_COLUMNS",
    "TARGET_CLASSES",
    "TARGET_COLUMN",
    "DataLoadError",
    "Dataset",
    "GenerationSummary",
    "Hyperparameters",
    "ModelTrainer",
    "Stage",
    "TrainerError",
    "TrainingCancelled",
    "TrainingConfig",
    "TrainingError",
    "TrainingResult",
    "build_pipeline",
    "generate_dataset",
    "load_dataset",
    "load_model",
]
