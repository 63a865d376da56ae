"""`pip install .`: a wheel of the sagewire client alone, its command working in a fresh virtual
environment (installed from the wheel, and editable as `make setup` installs it); the Lambda
package's staging copy does not take the client in."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from deploy.package import stage_project
from deploy.stages import PROJECT_DIR, load_stage
from sagewire.version import __version__

TIMEOUT = 300
# What a checkout holds that is not source: environments, caches, build output.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv*", "build", "out", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)


def _run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout: building writes egg-info and build/ into the source tree."""
    copy = tmp_path_factory.mktemp("checkout") / "sagewire"
    shutil.copytree(PROJECT_DIR, copy, ignore=_NOT_SOURCE, symlinks=True)
    return copy


@pytest.fixture(scope="module")
def wheel(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
        "-w", out, checkout, cwd=checkout,
    )  # fmt: skip
    (built,) = out.glob("*.whl")
    return built


def _environment(root: Path) -> Path:
    """A fresh virtual environment that sees this one's packages (botocore) after its own."""
    venv.create(root, with_pip=True)
    python = root / "bin" / "python"
    purelib = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=root
    )
    (Path(purelib.strip()) / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_the_wheel_holds_the_client_package_and_its_command_only(wheel: Path) -> None:
    assert wheel.name == f"sagewire-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = f"sagewire-{__version__}.dist-info"
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        metadata = archive.read(f"{info}/METADATA").decode()
    modules = sorted(name for name in names if not name.startswith(info))
    source = sorted(f"sagewire/{path.name}" for path in (PROJECT_DIR / "sagewire").glob("*.py"))
    assert modules == source
    assert "[console_scripts]\nsagewire = sagewire.cli:main" in entry_points
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert [line.split()[1] for line in requires] == ["botocore>=1.31"]


def test_the_wheel_installs_a_working_command(wheel: Path, tmp_path: Path) -> None:
    python = _environment(tmp_path / "env")
    _run(python, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", wheel, cwd=tmp_path)
    command = tmp_path / "env" / "bin" / "sagewire"
    assert _run(command, "--version", cwd=tmp_path) == f"sagewire {__version__}\n"
    assert "exit codes:" in _run(command, "--help", cwd=tmp_path)
    where = _run(python, "-c", "import sagewire; print(sagewire.__file__)", cwd=tmp_path)
    assert where.startswith(str(tmp_path / "env"))
    imports = subprocess.run(
        [python, "-c", "import chalicelib"], cwd=tmp_path, capture_output=True, check=False
    )
    assert imports.returncode != 0


def test_an_editable_install_runs_the_checkouts_code(checkout: Path, tmp_path: Path) -> None:
    python = _environment(tmp_path / "env")
    _run(
        python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet",
        "--editable", checkout, cwd=tmp_path,
    )  # fmt: skip
    command = tmp_path / "env" / "bin" / "sagewire"
    assert _run(command, "--version", cwd=tmp_path) == f"sagewire {__version__}\n"
    where = _run(python, "-c", "import sagewire; print(sagewire.__file__)", cwd=tmp_path)
    assert where.strip() == str(checkout / "sagewire" / "__init__.py")


def test_the_lambda_package_takes_the_app_and_not_the_client(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    staging = tmp_path / "staging"
    stage_project(PROJECT_DIR, staging, load_stage("prod"), vendor)
    top = sorted(path.name for path in staging.iterdir())
    assert top == [".chalice", "app.py", "chalicelib", "requirements.txt", "vendor"]
