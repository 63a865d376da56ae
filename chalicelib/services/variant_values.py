"""The champion's variants as GET .../champion shows them (`VariantView`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VariantView:
    """One variant of the champion's endpoint config: its run and model, the weight the config
    gives it, the weights the endpoint has for it now (None unless it serves the champion's
    config) and its invocations over the last hour (CloudWatch; None without data)."""

    name: str
    run_name: str
    model_name: str
    initial_weight: float
    current_weight: float | None
    desired_weight: float | None
    invocations: int | None
