"""Errors a user can act on.

Every error raised for bad input derives from `ZenMLKFError`; the CLI prints its
message as one line and exits non-zero, so each message names the problem and the fix.
Anything else escaping is a bug and keeps its traceback.
"""


class ZenMLKFError(Exception):
    """An error caused by the user's input, with a message that says how to fix it."""


class StepInterfaceError(ZenMLKFError):
    """A step function's signature or return value breaks the step contract."""


class PipelineInterfaceError(ZenMLKFError):
    """A pipeline is wired or instantiated wrongly."""


class ConfigFileError(ZenMLKFError):
    """A run configuration file is unreadable or names unknown steps or parameters."""


class MaterializerError(ZenMLKFError):
    """An artifact cannot be written or read with its materializer."""


class RepositoryError(ZenMLKFError):
    """The `.zen/` repository is missing, malformed or cannot be created."""


class StackError(ZenMLKFError):
    """A stack or stack component is unknown, invalid or in use."""


class MetadataStoreError(ZenMLKFError):
    """The metadata store cannot be reached or holds nothing for the request."""


class NothingRecordedError(MetadataStoreError):
    """The stack's metadata store does not exist yet (or was deleted): no run to read."""


class SourceError(ZenMLKFError):
    """A `module:attr` or `file.py:attr` reference cannot be loaded."""


class StepFailedError(ZenMLKFError):
    """A step raised; its traceback was already shown once, this carries the summary."""

    def __init__(self, message: str, run_id: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


class SettingsError(ZenMLKFError):
    """Step or pipeline settings (resources, Kubernetes options, retries) are invalid."""


class CompilerError(ZenMLKFError):
    """A pipeline cannot be compiled to KFP: its image, step sources or task names."""


class ImageBuildError(ZenMLKFError):
    """The step image cannot be built or pushed."""


def first_line(error: object) -> str:
    """An exception (or any message) as one short line for an error message."""
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return line if len(line) <= 300 else line[:297] + "..."
