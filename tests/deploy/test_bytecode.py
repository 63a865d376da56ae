"""Bytecode for Lambda's runtime, on small zips: compiled by that CPython, checked from the zip."""

from __future__ import annotations

import importlib.util
import py_compile
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from deploy.bytecode import (
    TARGET_PYTHON_VARIABLE,
    BytecodeError,
    cache_name,
    check_bytecode,
    compile_zip,
    find_interpreter,
)
from deploy.wheels import RUNTIMES

RUNTIME = RUNTIMES["python3.12"]
MODULES = {
    "app.py": "import lib.helper\nVALUE = lib.helper.double(21)\n",
    "lib/__init__.py": "",
    "lib/helper.py": (
        "def double(x):\n    return 2 * x\n\ndef broken():\n    raise ValueError('here')\n"
    ),
}


def _zip(path: Path, files: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


@pytest.fixture(scope="module")
def python312() -> str:
    try:
        return find_interpreter(RUNTIME)
    except BytecodeError as error:
        pytest.skip(str(error))


def test_the_cache_name_is_importlibs() -> None:
    assert cache_name("app.py", RUNTIME) == "__pycache__/app.cpython-312.pyc"
    assert cache_name("numpy/_core/_methods.py", RUNTIME) == (
        "numpy/_core/__pycache__/_methods.cpython-312.pyc"
    )
    here = RUNTIMES[f"python3.{sys.version_info.minor}"]
    assert importlib.util.cache_from_source("lib/helper.py") == cache_name("lib/helper.py", here)


def test_a_compiled_zip_passes_and_runs_from_its_bytecode_alone(
    python312: str, tmp_path: Path
) -> None:
    package = _zip(tmp_path / "deployment.zip", dict(MODULES))

    added = compile_zip(package, RUNTIME, python312)

    assert added == 3
    checked, violations = check_bytecode(package, RUNTIME)
    assert violations == []
    assert checked == [
        "bytecode: all 3 modules have their python3.12 .pyc (magic 3531, unchecked hash)"
    ]
    task = tmp_path / "task"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(task)
    task.chmod(0o555)  # read-only, as /var/task: nothing could be written next to the sources
    # Sources newer than their bytecode (Lambda's unpacked files get the deployment's time) and
    # an import that would fail if the source were read (a .pyc of a changed source is used).
    (task / "lib").chmod(0o755)
    (task / "lib" / "helper.py").write_text("raise SystemExit('the source was compiled')\n")
    probe = (
        "import sys, app, lib.helper\n"
        "assert app.VALUE == 42\n"
        "assert lib.helper.__cached__.endswith('cpython-312.pyc')\n"
        "try:\n    lib.helper.broken()\nexcept ValueError as e:\n"
        "    print(e.__traceback__.tb_next.tb_frame.f_code.co_filename)\n"
    )
    result = subprocess.run(
        [python312, "-I", "-c", f"import sys; sys.path.insert(0, {str(task)!r})\n{probe}"],
        capture_output=True,
        text=True,
        env={"PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Tracebacks name the file where the package was unpacked, as /var/task/... on Lambda.
    assert result.stdout.strip() == str(task / "lib" / "helper.py")
    task.chmod(0o755)


def test_a_zip_without_bytecode_fails_the_check(tmp_path: Path) -> None:
    package = _zip(tmp_path / "deployment.zip", dict(MODULES))

    checked, violations = check_bytecode(package, RUNTIME)

    assert checked == []
    assert violations == [
        "bytecode: 3 of 3 modules have no .pyc for python3.12 (every cold start would compile "
        "them): app.py, lib/__init__.py, lib/helper.py"
    ]


def test_bytecode_of_another_python_or_checked_by_time_fails_the_check(tmp_path: Path) -> None:
    source = tmp_path / "app.py"
    source.write_text(MODULES["app.py"])
    timestamped = tmp_path / "timestamped.pyc"
    py_compile.compile(str(source), str(timestamped), doraise=True)  # this interpreter's magic
    files: dict[str, str | bytes] = {"app.py": MODULES["app.py"]}
    files[cache_name("app.py", RUNTIME)] = timestamped.read_bytes()
    package = _zip(tmp_path / "deployment.zip", files)

    _, violations = check_bytecode(package, RUNTIME)

    assert len(violations) == 1
    if sys.version_info[:2] == (3, 12):
        assert "not an unchecked hash-based .pyc" in violations[0]
    else:
        assert "Lambda would ignore: __pycache__/app.cpython-312.pyc (magic" in violations[0]


def test_without_the_runtimes_python_packaging_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(TARGET_PYTHON_VARIABLE, sys.executable)  # of another version, or absent
    runtime = RUNTIMES["python3.13"] if sys.version_info[:2] != (3, 13) else RUNTIME

    with pytest.raises(BytecodeError) as refused:
        find_interpreter(runtime)

    message = str(refused.value)
    assert f"`uv python install 3.{runtime.minor}`" in message
    assert f"{TARGET_PYTHON_VARIABLE} to its path" in message
