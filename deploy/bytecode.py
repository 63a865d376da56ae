"""Bytecode for Lambda's runtime: the package's modules compiled by that CPython, and checked."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from deploy.wheels import LambdaRuntime

# An interpreter of the runtime's version to compile with, when none is found by its name.
TARGET_PYTHON_VARIABLE = "SAGEWIRE_TARGET_PYTHON"
# importlib.util.MAGIC_NUMBER of each runtime's CPython: a .pyc of another version is ignored.
MAGIC = {
    11: (3495).to_bytes(2, "little") + b"\r\n",
    12: (3531).to_bytes(2, "little") + b"\r\n",
    13: (3571).to_bytes(2, "little") + b"\r\n",
}
# PEP 552 flags: hash-based (bit 0), source not checked (bit 1 clear). Lambda gives the unpacked
# files the time of the deployment, so timestamp-based .pyc files would all be stale.
UNCHECKED_HASH_FLAGS = 0b01
# The same time for every entry we add, so that two builds of the same tree are the same zip.
_ENTRY_TIME = (2026, 1, 1, 0, 0, 0)
_COMPILE = """\
import compileall, py_compile, sys
ok = compileall.compile_dir(
    sys.argv[1], quiet=1, workers=0,
    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
)
sys.exit(0 if ok else 1)
"""


class BytecodeError(RuntimeError):
    """No interpreter of the runtime's version, or one that cannot compile the package."""


def cache_name(source: str, runtime: LambdaRuntime) -> str:
    """Where the runtime's CPython looks for a module's bytecode (importlib's cache_from_source)."""
    folder, _, file = source.rpartition("/")
    cached = f"__pycache__/{file.removesuffix('.py')}.cpython-3{runtime.minor}.pyc"
    return f"{folder}/{cached}" if folder else cached


def find_interpreter(runtime: LambdaRuntime) -> str:
    """A CPython of the runtime's version: $SAGEWIRE_TARGET_PYTHON, python3.N on PATH, or one
    installed by pyenv or uv (whose shims may not select it)."""
    version = f"3.{runtime.minor}"
    configured = os.environ.get(TARGET_PYTHON_VARIABLE)
    candidates = [configured] if configured else [shutil.which(f"python{version}")]
    home = Path.home()
    candidates += sorted(
        str(p) for p in home.glob(f".pyenv/versions/{version}*/bin/python{version}")
    )
    candidates += sorted(
        str(p) for p in home.glob(f".local/share/uv/python/cpython-{version}*/bin/python{version}")
    )
    check = f"import sys; sys.exit(sys.version_info[:2] != (3, {runtime.minor}))"
    for candidate in filter(None, candidates):
        works = subprocess.run([candidate, "-I", "-c", check], capture_output=True, check=False)
        if works.returncode == 0:
            return candidate
    raise BytecodeError(
        f"{runtime.name}: the package is compiled by CPython {version}, Lambda's own, and none "
        f"was found (python{version} on PATH, pyenv, uv"
        f"{', or ' + TARGET_PYTHON_VARIABLE + '=' + configured if configured else ''}). Install "
        f"one (`uv python install {version}`, `pyenv install {version}`, or your distribution's "
        f"python{version}) or set {TARGET_PYTHON_VARIABLE} to its path."
    )


def compile_zip(zip_path: Path, runtime: LambdaRuntime, interpreter: str) -> int:
    """Adds to the zip a hash-based, unchecked .pyc of every module, compiled by `interpreter`;
    returns how many were added. (The import system gives the code its real file name.)"""
    with tempfile.TemporaryDirectory(prefix="sagewire-bytecode-") as scratch:
        root = Path(scratch) / "task"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(root)
            names = set(archive.namelist())
        done = subprocess.run(
            [interpreter, "-I", "-c", _COMPILE, str(root)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BytecodeError(f"compiling for {runtime.name} failed: {done.stdout[-2000:]}")
        added = sorted(
            path.relative_to(root).as_posix()
            for path in root.rglob("*.pyc")
            if path.relative_to(root).as_posix() not in names
        )
        with zipfile.ZipFile(zip_path, "a", zipfile.ZIP_DEFLATED) as archive:
            for name in added:
                entry = zipfile.ZipInfo(name, _ENTRY_TIME)
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.external_attr = 0o644 << 16
                archive.writestr(entry, (root / name).read_bytes())
    return len(added)


def check_bytecode(zip_path: Path, runtime: LambdaRuntime) -> tuple[list[str], list[str]]:
    """Every module in the zip has its .pyc for the runtime: its magic number, hash-based and
    unchecked. Returns (checked, violations) sentences."""
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        sources = sorted(name for name in names if name.endswith(".py"))
        missing, wrong = [], []
        for name in sources:
            cached = cache_name(name, runtime)
            if cached not in names:
                missing.append(name)
                continue
            with archive.open(cached) as pyc:
                header = pyc.read(8)
            if header[:4] != MAGIC[runtime.minor]:
                wrong.append(f"{cached} (magic {header[:4]!r})")
            elif int.from_bytes(header[4:8], "little") != UNCHECKED_HASH_FLAGS:
                wrong.append(f"{cached} (not an unchecked hash-based .pyc)")
    checked, violations = [], []
    if missing:
        violations.append(
            f"bytecode: {len(missing)} of {len(sources)} modules have no .pyc for "
            f"{runtime.name} (every cold start would compile them): {', '.join(missing[:5])}"
        )
    if wrong:
        violations.append(f"bytecode: {len(wrong)} .pyc files Lambda would ignore: {wrong[0]}")
    if not missing and not wrong:
        checked.append(
            f"bytecode: all {len(sources)} modules have their {runtime.name} .pyc "
            f"(magic {int.from_bytes(MAGIC[runtime.minor][:2], 'little')}, unchecked hash)"
        )
    return checked, violations
