"""Step parameters as a pydantic model, so values are validated once and serialize to JSON."""

from pydantic import BaseModel, ConfigDict


class BaseStepConfig(BaseModel):
    """Subclass with typed fields; a step takes one argument annotated with the subclass.

    Unknown keys are rejected so a typo in a config file fails loudly instead of being
    ignored, and instances are frozen because a step must not change its own parameters.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
