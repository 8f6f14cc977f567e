"""Loads the pipeline a CLI command names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from zenml_kf.exceptions import SourceError
from zenml_kf.grammar import with_article

if TYPE_CHECKING:
    from zenml_kf.pipelines.pipeline import Pipeline


def load_pipeline(target: str, root: Path) -> Pipeline:
    from zenml_kf.exceptions import ZenMLKFError
    from zenml_kf.pipelines.pipeline import Pipeline, PipelineDefinition
    from zenml_kf.source import load_target

    try:
        obj = load_target(target, root)
    except ZenMLKFError:
        raise
    except (Exception, SystemExit) as exc:  # the user's module raised (or exited) while imported
        from zenml_kf.error_location import describe_error, user_location

        location = user_location(exc, root)
        where = f" at {location}" if location else ""
        raise SourceError(
            f"importing '{target}' failed with {describe_error(exc)}{where}; fix the module so it imports"
        ) from exc
    if isinstance(obj, PipelineDefinition):
        raise SourceError(
            f"'{target}' is the pipeline function '{obj.name}', not a pipeline instance; "
            f"point at one made by calling it with steps, e.g. p = {obj.name}(step_a=step_a(), ...)"
        )
    if not isinstance(obj, Pipeline):
        raise SourceError(
            f"'{target}' is {with_article(type(obj).__name__)}, not a pipeline instance; point at one made "
            "with p = my_pipeline(...)"
        )
    return obj
