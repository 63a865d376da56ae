"""The package-level checks: zip limits, cfn-lint, the committed policy file, the environment."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from deploy import checks
from deploy.checks import Findings, check_cfn_lint, check_policy_file, check_zip
from deploy.package import _chalice_environment
from deploy.stages import PROJECT_DIR, load_stage


def test_a_zip_over_lambdas_limits_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "deployment.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.bin", b"\0" * 4096)
    monkeypatch.setattr(checks, "MAX_ZIPPED_BYTES", 100)
    monkeypatch.setattr(checks, "MAX_UNZIPPED_BYTES", 1000)
    findings = Findings()

    check_zip(path, findings)

    assert any("MiB zipped, over Lambda's" in v for v in findings.violations)
    assert any("MiB unzipped, over Lambda's" in v for v in findings.violations)


def test_cfn_lint_failures_fail_the_package(tmp_path: Path) -> None:
    path = tmp_path / "sam.json"
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"Retention": 1}}},
    }
    path.write_text(json.dumps(template))
    findings = Findings()

    check_cfn_lint(path, findings)

    assert len(findings.violations) == 1
    assert "Retention" in findings.violations[0]


def test_cfn_lint_is_the_pinned_version() -> None:
    import subprocess

    version = subprocess.run(
        [*checks.cfn_lint_command(), "--version"], capture_output=True, text=True, check=True
    )

    assert version.stdout.strip() == f"cfn-lint {checks.CFN_LINT_VERSION}"


def test_a_stale_policy_file_fails_the_package(tmp_path: Path) -> None:
    shutil.copytree(PROJECT_DIR / ".chalice", tmp_path / ".chalice")
    stage = load_stage("prod", tmp_path)
    findings = Findings()
    check_policy_file(stage, tmp_path, findings)
    assert findings.violations == []

    policy = tmp_path / ".chalice" / "policy-prod.json"
    policy.write_text(policy.read_text().replace("sagewire-prod-dlq", "sagewire-prod-*"))
    check_policy_file(stage, tmp_path, findings)

    assert findings.violations == [
        "policy-prod.json: differs from the stage's configuration; run `make policies`"
    ]


def test_the_packaging_shell_cannot_leak_settings_into_the_import_time_patterns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAGEWIRE_DATASETS_PREFIX", "elsewhere/")
    monkeypatch.setenv("SAGEWIRE_BUCKET", "sagewire-local")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)

    environment = _chalice_environment()

    assert not [name for name in environment if name.startswith(("SAGEWIRE_", "AWS_ENDPOINT"))]
    assert environment["AWS_DEFAULT_REGION"] == "us-east-1"
