"""The materializer contract: turn one Python value into files in a folder, and back."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

MetadataValue = str | int | float | bool


class BaseMaterializer:
    """Writes and reads one artifact in a local folder the artifact store provides.

    Subclasses are stateless. `ARTIFACT_TYPE` is the KFP schema title the artifact is
    recorded under (`system.Dataset`, `system.Model`, ...), which decides how the KFP UI
    shows it. `extract_metadata` returns small facts (shape, value) worth recording.
    """

    ARTIFACT_TYPE: ClassVar[str] = "system.Artifact"
    # Distributions (pip names) a step image needs to run `save` and `load`; the image
    # builder adds them, pinned to the versions installed where the pipeline is compiled,
    # so an artifact written on a laptop reads the same in a pod.
    REQUIREMENTS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def requirements_for(cls, data_type: str) -> tuple[str, ...]:
        """What a step image needs to handle values of `data_type` (a dotted type name).

        Most materializers know their libraries up front; one that stores arbitrary
        objects (pickle) also needs the library that defines the object's class.
        """
        return cls.REQUIREMENTS

    def save(self, data: Any, path: Path) -> None:
        raise NotImplementedError

    def load(self, path: Path, data_type: type) -> Any:
        raise NotImplementedError

    def extract_metadata(self, data: Any) -> dict[str, MetadataValue]:
        return {}
