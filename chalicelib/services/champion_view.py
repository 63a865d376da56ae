"""GET .../champion's answer: the champion, what serves, and its variants (`ChampionView`)."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.records import Champion, EndpointState, Promotion


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


@dataclass(frozen=True)
class ChampionView:
    """A project's champion, its promotion, and what the endpoint really serves (and which run
    that is, from the ledger), which differ while a promotion is in flight or after it failed;
    `drift` when the endpoint serves another config than the champion's (as reconcile says).
    `managed` false: the endpoint is fronted, its champion recorded only, never drifting;
    `variants`: the champion's, with weights and traffic (services/variants.py)."""

    champion: Champion | None
    promotion: Promotion | None
    serving: EndpointState
    serving_run_name: str | None
    drift: bool
    managed: bool
    variants: tuple[VariantView, ...] = ()
