"""User-facing errors. Each message names the file (if any) and what to do about it.

The CLI prints these without a traceback (unless ``--debug``) and exits non-zero.
"""
from __future__ import annotations


class Pose3DBenchError(Exception):
    """Base class for errors caused by user input (files, flags), not by bugs."""

    exit_code = 2


class CheckpointError(Pose3DBenchError):
    """A checkpoint file cannot be read, is unsafe to unpickle, or does not fit the model."""


class DatasetError(Pose3DBenchError):
    """The Human3.6M folder is incomplete or inconsistent."""


class PredictionsError(Pose3DBenchError):
    """A predictions file does not match the dataset or the expected format."""


class ModelConfigError(Pose3DBenchError):
    """A model configuration (variant overrides, architecture arguments) is invalid."""
