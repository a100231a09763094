"""The error tree: every error caused by user input (files, flags, folders, machine), in one place.

Each message names the file (if any) and what to do about it. The CLI catches ``Pose3DBenchError`` only and
prints it without a traceback (unless ``--debug``), exiting non-zero; everything else is a bug and keeps
its traceback (internal inconsistencies raise ``RuntimeError``, never one of these).

Pose3DBenchError
  OutputError (output folders/files), DeviceError, DistributedError, RunError (run flags and inputs)
  DatasetError (a dataset folder), SynthError, BboxRootSpecError, PredictionsError, ResultsError
  CheckpointError, ModelConfigError (MobileHumanPoseConfigError), ModelSpecError
  WeightsError (DownloadError, IntegrityError), BackendError, ProfileError
"""
from __future__ import annotations


class Pose3DBenchError(Exception):
    """Base class for errors caused by user input (files, flags), not by bugs."""

    exit_code = 2


class CheckpointError(Pose3DBenchError):
    """A checkpoint file cannot be read, is unsafe to unpickle, or does not fit the model."""


class DatasetError(Pose3DBenchError):
    """A dataset folder is incomplete or inconsistent."""


class PredictionsError(Pose3DBenchError):
    """A predictions file does not match the dataset or the expected format."""


class ModelConfigError(Pose3DBenchError):
    """A model configuration (variant overrides, architecture arguments) is invalid."""


class OutputError(Pose3DBenchError):
    """An output folder or file that pose3dbench must not write to, or that another process is writing."""


class DeviceError(Pose3DBenchError, ValueError):
    """The requested device does not exist in this torch build or on this machine."""


class SynthError(Pose3DBenchError):
    """The synthetic dataset cannot be written (bad size, unwritable folder)."""


class BboxRootSpecError(Pose3DBenchError):
    """A ``--bbox-root`` value is neither FILE nor PROTOCOL=FILE."""


class ResultsError(Pose3DBenchError):
    """A results.json file is missing, unreadable or does not follow the schema."""


class MobileHumanPoseConfigError(ModelConfigError, ValueError):
    """An architecture argument that the original MobileHumanPose code cannot build or run."""


class ModelSpecError(Pose3DBenchError):
    """A ``--model`` spec names nothing loadable, or a custom model breaks the zoo interface."""


class WeightsError(Pose3DBenchError):
    """A released checkpoint or data file cannot be found, fetched or verified."""


class DownloadError(WeightsError):
    """A transfer failed (offline, refused, timed out, HTTP error, connection dropped)."""


class IntegrityError(WeightsError):
    """A file is not what it should be: wrong size, wrong sha256, or an HTML page instead of the file."""


class BackendError(Pose3DBenchError):
    """An inference backend cannot be used: missing optional package, unusable ONNX file, bad option."""


class ProfileError(Pose3DBenchError):
    """Profiling cannot run as asked (unknown device or dtype, bad batch size, model fails)."""


class DistributedError(Pose3DBenchError):
    """A sharded (torchrun) run is misconfigured: environment, backend or device."""


class RunError(Pose3DBenchError):
    """A run cannot start or continue because of its inputs (flags, folders, models)."""
