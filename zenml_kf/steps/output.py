"""`Output(...)`: the return annotation of a step with several named outputs."""

from __future__ import annotations

from typing import Any


class Output:
    """Ordered names and types of a step's outputs: `-> Output(model=Model, score=float)`.

    The step returns a tuple in the same order.
    """

    def __init__(self, **outputs: Any) -> None:
        if not outputs:
            raise TypeError("Output() needs at least one name=type pair, e.g. Output(a=int)")
        self.items: dict[str, Any] = dict(outputs)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={getattr(v, '__name__', v)}" for k, v in self.items.items())
        return f"Output({inner})"
