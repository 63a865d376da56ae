"""The report service over fakes: deterministic keys and bytes, changes, drift and orphans."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from chalicelib.errors import NotFound
from chalicelib.models import ReportKind
from chalicelib.services.reports import LatestReport, ReportService
from tests.fakes import EPOCH
from tests.report_world import BUCKET, ReportWorld, run, trained_world

DAY = EPOCH + timedelta(hours=6)
LATEST: dict[ReportKind, str] = {
    "json": "reports/latest.json",
    "html": "reports/latest.html",
    "csv": "reports/latest.csv",
    "openlineage": "reports/latest.openlineage.jsonl",
}


def _written(world: ReportWorld) -> dict[str, bytes]:
    return {key: body for (_, key), (body, _) in world.objects.objects.items()}


def _latest(service: ReportService) -> dict[str, object]:
    document: dict[str, object] = orjson.loads(service.latest("json").body)
    return document


def test_keys_are_the_days_and_latest() -> None:
    keys = trained_world().reports.write(DAY)
    assert keys.dated == (
        "reports/2026/11/23/lineage.json",
        "reports/2026/11/23/lineage.html",
        "reports/2026/11/23/lineage.csv",
        "reports/2026/11/23/openlineage.jsonl",
    )
    assert keys.latest == (
        "reports/latest.json",
        "reports/latest.html",
        "reports/latest.csv",
        "reports/latest.openlineage.jsonl",
    )


def test_twice_the_same_day_writes_the_same_keys_and_bytes() -> None:
    world = trained_world()
    world.objects.put(BUCKET, "reports/latest.json", b"{}", "application/json")
    world.reports.write(DAY - timedelta(days=1))
    world.train(run("ll-batch-400", 0.05, 400))
    first_keys = world.reports.write(DAY)
    first = _written(world)
    second_keys = world.reports.write(DAY)
    assert second_keys == first_keys
    assert _written(world) == first
    # Later the same day: only generated_at differs, and changes are still against yesterday.
    world.reports.write(DAY + timedelta(hours=3))
    later = _written(world)
    assert later.keys() == first.keys()
    for key in first_keys.dated:
        if key.endswith(("openlineage.jsonl", ".csv")):
            assert later[key] == first[key]
    before = orjson.loads(first["reports/2026/11/23/lineage.json"])
    after = orjson.loads(later["reports/2026/11/23/lineage.json"])
    assert after.pop("generated_at") != before.pop("generated_at")
    assert after == before
    assert after["changes"]["since_key"] == "reports/2026/11/22/lineage.json"


def test_content_types() -> None:
    world = trained_world()
    world.reports.write(DAY)
    types = {key: kind for (_, key), (_, kind) in world.objects.objects.items()}
    assert types["reports/latest.json"] == "application/json"
    assert types["reports/latest.html"] == "text/html; charset=utf-8"
    assert types["reports/2026/11/23/lineage.html"] == "text/html; charset=utf-8"
    assert types["reports/latest.csv"] == "text/csv; charset=utf-8"
    assert types["reports/latest.openlineage.jsonl"] == "application/x-ndjson"


def test_first_report_has_nothing_to_compare_with() -> None:
    world = trained_world()
    world.reports.write(DAY)
    changes = _latest(world.reports)["changes"]
    assert changes == {
        "since_key": None,
        "since": None,
        "champions_changed": [],
        "new_runs": [],
        "new_promotions": [],
        "drift_appeared": [],
        "drift_resolved": [],
    }


def test_changes_since_the_previous_days_report() -> None:
    world = trained_world()
    world.reports.write(DAY - timedelta(days=1))
    world.train(run("ll-batch-400", 0.05, 400))
    world.reports.write(DAY)
    changes = _latest(world.reports)["changes"]
    assert isinstance(changes, dict)
    assert changes["since_key"] == "reports/2026/11/22/lineage.json"
    assert changes["since"] == "2026-11-22T06:00:00.000000Z"
    assert changes["champions_changed"] == [
        {"project": "digits-backup", "before": "ll-batch-200", "after": "ll-batch-400"},
        {"project": "digits-zero", "before": "ll-batch-200", "after": "ll-batch-400"},
    ]
    assert changes["new_runs"] == [
        {"project": "digits-backup", "run": "ll-batch-400"},
        {"project": "digits-zero", "run": "ll-batch-400"},
    ]
    assert [entry["project"] for entry in changes["new_promotions"]] == [
        "digits-backup",
        "digits-zero",
    ]


def test_drift_appears_and_resolves() -> None:
    world = trained_world()
    world.reports.write(DAY - timedelta(days=1))
    world.train(run("ll-batch-400", 0.05, 400), settle=False)
    world.reports.write(DAY)
    document = _latest(world.reports)
    drift = document["drift"]
    assert isinstance(drift, list)
    assert {row["endpoint"] for row in drift} == {"digits-zero", "digits-backup"}
    assert document["changes"]["drift_appeared"] == ["digits-backup", "digits-zero"]  # type: ignore[index]
    for name in ("digits-backup", "digits-zero"):
        settled = world.sagemaker.settle(name)
        assert settled is not None
        world.automation.rollout.on_endpoint(settled)
    world.reports.write(DAY + timedelta(days=1))
    document = _latest(world.reports)
    assert document["drift"] == []
    assert document["changes"]["drift_resolved"] == ["digits-backup", "digits-zero"]  # type: ignore[index]


def test_drift_does_not_advance_promotions() -> None:
    world = trained_world()
    world.train(run("ll-batch-400", 0.05, 400), settle=False)
    world.sagemaker.settle("digits-zero")
    before = world.champions.promotions("digits-zero")
    world.reports.write(DAY)
    assert world.champions.promotions("digits-zero") == before


def test_orphans_are_sagewires_unused_models_and_configs() -> None:
    world = trained_world()
    world.sagemaker.models["someone-elses-model"] = ("role", None, None)
    orphans = _orphans(world)
    serving = {
        variant.model_name
        for name in ("digits-zero", "digits-backup")
        for variant in world.sagemaker.configs[world.sagemaker.endpoints[name].config or ""]
    }
    assert "digits-zero-ll-batch-100" in orphans["models"]
    assert not serving & set(orphans["models"])
    assert "someone-elses-model" not in orphans["models"]
    assert all(name.startswith(("digits-zero-", "digits-backup-")) for name in orphans["models"])
    configs = orphans["endpoint_configs"]
    assert configs
    assert world.sagemaker.endpoints["digits-zero"].config not in configs


def _orphans(world: ReportWorld) -> dict[str, list[str]]:
    world.reports.write(DAY)
    orphans = _latest(world.reports)["orphans"]
    assert isinstance(orphans, dict)
    return orphans


def test_latest_before_any_report_is_not_found() -> None:
    with pytest.raises(NotFound):
        ReportWorld().reports.latest("html")


@pytest.mark.parametrize(("kind", "key"), LATEST.items())
def test_latest_reads_each_format(kind: ReportKind, key: str) -> None:
    world = trained_world()
    world.reports.write(DAY)
    assert world.reports.latest(kind) == LatestReport(_written(world)[key])
