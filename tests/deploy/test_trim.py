"""The dependencies' test suites left out of the package, and the check that proves it."""

from __future__ import annotations

import zipfile
from pathlib import Path

from deploy.trim import check_trimmed, drop_unused, trim

APP = ("app.py", "chalicelib/")
CLEAN = [
    "trim: no dependency's tests in the package, none imported",
    "trim: no joblib, cloudpickle, click or tqdm (NLTK's stemmer never loads them), "
    "imported only inside nltk.util's functions",
]


def _zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


def test_trim_removes_test_suites_and_their_record_lines(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/core/tests/__init__.py": "",
        "pkg/core/tests/data/case.txt": "",
        "pkg/tests/test_pkg.py": "",
        "pkg/conftest.py": "",
        "pkg/testing/__init__.py": "",  # a public module, not a test suite
    }
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    record = tmp_path / "pkg-1.0.dist-info" / "RECORD"
    record.parent.mkdir()
    record.write_text(
        "".join(f"{name},sha256=x,0\n" for name in files) + "pkg-1.0.dist-info/RECORD,,\n"
    )

    assert trim(tmp_path) == 4

    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["pkg-1.0.dist-info/RECORD", "pkg/__init__.py", "pkg/testing/__init__.py"]
    assert record.read_text() == (
        "pkg/__init__.py,sha256=x,0\npkg/testing/__init__.py,sha256=x,0\npkg-1.0.dist-info/RECORD,,\n"
    )
    assert not (tmp_path / "pkg" / "core" / "tests").exists()


def test_the_check_finds_a_suite_left_or_still_imported(tmp_path: Path) -> None:
    clean = _zip(tmp_path / "clean.zip", {"pkg/mod.py": "import os\n", "chalicelib/tests.py": ""})
    assert check_trimmed(clean, APP, tracing=True) == (CLEAN, [])
    left = _zip(tmp_path / "left.zip", {"pkg/tests/test_a.py": "", "other/conftest.py": ""})
    assert check_trimmed(left, APP, tracing=True)[1] == [
        "trim: test suites left in the package: other, pkg"
    ]
    importer = _zip(tmp_path / "importer.zip", {"pkg/mod.py": "from pkg.core.tests import x\n"})
    assert check_trimmed(importer, APP, tracing=True)[1] == [
        "trim: modules import a removed test suite: pkg/mod.py"
    ]


def test_a_stage_that_does_not_trace_ships_no_xray_sdk(tmp_path: Path) -> None:
    package = _zip(
        tmp_path / "deployment.zip",
        {
            "app.py": "import chalicelib\n",
            "aws_xray_sdk/core/__init__.py": "import wrapt\n",
            "aws_xray_sdk-2.15.0.dist-info/RECORD": "",
            "wrapt/__init__.py": "",
            "wrapt-2.5.2.dist-info/RECORD": "",
            "aws_lambda_powertools/tracing/tracer.py": "import aws_xray_sdk\n",
            "wraptor/__init__.py": "",  # another package whose name starts alike
        },
    )
    assert check_trimmed(package, APP, tracing=True)[1] == []
    assert check_trimmed(package, APP, tracing=False)[1] == [
        "trim: the stage does not trace, yet the package has aws_xray_sdk, "
        "aws_xray_sdk-2.15.0.dist-info, wrapt, wrapt-2.5.2.dist-info"
    ]

    assert drop_unused(package, tracing=True) == 0
    assert drop_unused(package, tracing=False) == 4

    with zipfile.ZipFile(package) as archive:
        assert sorted(archive.namelist()) == [
            "app.py",
            "aws_lambda_powertools/tracing/tracer.py",
            "wraptor/__init__.py",
        ]
    assert check_trimmed(package, APP, tracing=False) == (
        [*CLEAN, "trim: no X-Ray SDK or wrapt (the stage does not trace), none imported"],
        [],
    )
    importer = _zip(tmp_path / "importer.zip", {"pkg/mod.py": "from wrapt import decorator\n"})
    assert check_trimmed(importer, APP, tracing=False)[1] == [
        "trim: modules import the X-Ray SDK or wrapt: pkg/mod.py"
    ]


def test_nltk_s_unused_dependencies_and_console_script_go_whatever_the_stage(
    tmp_path: Path,
) -> None:
    package = _zip(
        tmp_path / "deployment.zip",
        {
            "app.py": "import chalicelib\n",
            "nltk/__init__.py": "from nltk.stem import *\n",
            "nltk/cli.py": "import click\nfrom tqdm import tqdm\n",
            # What nltk/util.py does: joblib and tqdm inside parallelize(), never at import.
            "nltk/util.py": "def parallelize():\n    from joblib import Parallel\n",
            "joblib/__init__.py": "import cloudpickle\n",
            "joblib-1.6.0.dist-info/RECORD": "",
            "cloudpickle/__init__.py": "",
            "click/__init__.py": "",
            "click-8.5.1.dist-info/RECORD": "",
            "tqdm/__init__.py": "",
            "clickhouse/__init__.py": "",  # another package whose name starts alike
        },
    )
    assert check_trimmed(package, APP, tracing=True)[1] == [
        "trim: NLTK's unused dependencies are in the package: click, click-8.5.1.dist-info, "
        "cloudpickle, joblib, joblib-1.6.0.dist-info, nltk/cli.py, tqdm"
    ]

    assert drop_unused(package, tracing=True) == 7

    with zipfile.ZipFile(package) as archive:
        assert sorted(archive.namelist()) == [
            "app.py",
            "clickhouse/__init__.py",
            "nltk/__init__.py",
            "nltk/util.py",
        ]
    assert check_trimmed(package, APP, tracing=True) == (CLEAN, [])


def test_a_module_importing_nltk_s_unused_dependencies_at_import_is_found(tmp_path: Path) -> None:
    for name, text in (
        ("pkg/mod.py", "def f():\n    import tqdm\n"),  # only nltk/util.py may, in a function
        ("nltk/util.py", "from joblib import Parallel\n"),  # at its top level
        ("nltk/probability.py", "import click.core\n"),
    ):
        importer = _zip(tmp_path / "importer.zip", {name: text})
        assert check_trimmed(importer, APP, tracing=True)[1] == [
            f"trim: modules import joblib, cloudpickle, click or tqdm: {name}"
        ]
