"""Are the deployment zip's binary packages built for Lambda's runtime? Read from the zip itself."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path


@dataclass(frozen=True)
class LambdaRuntime:
    """What a Lambda Python runtime accepts: its CPython tag and the glibc of its OS."""

    name: str
    python_tag: str
    glibc: tuple[int, int]
    machine: str = "x86_64"

    @property
    def minor(self) -> int:
        return int(self.python_tag.removeprefix("cp3"))

    @property
    def extension_suffix(self) -> str:
        return f".cpython-3{self.minor}-{self.machine}-linux-gnu.so"


# Amazon Linux 2 (glibc 2.26) under python3.11; Amazon Linux 2023 (glibc 2.34) from python3.12.
RUNTIMES = {
    "python3.11": LambdaRuntime("python3.11", "cp311", (2, 26)),
    "python3.12": LambdaRuntime("python3.12", "cp312", (2, 34)),
    "python3.13": LambdaRuntime("python3.13", "cp313", (2, 34)),
}
# The runtime requirements with compiled code: without the right build, `import app` fails.
BINARY_PACKAGES = ("numpy", "pillow", "orjson")
# Legacy manylinux tags and the glibc they stand for (PEP 600).
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(\w+)$")
_CPYTHON_SUFFIX = re.compile(r"\.cpython-(\d+)-([\w-]+)\.so$")
_DIST_INFO = re.compile(r"^([^/]+)-([^/-]+)\.dist-info/WHEEL$")


def platforms(runtime: LambdaRuntime) -> list[str]:
    """pip's `--platform` values for the runtime: pip takes each literally, so every manylinux
    glibc minor up to the runtime's, and the legacy alias that brings manylinux1 and 2010."""
    major, top = runtime.glibc
    tags = [f"manylinux_{major}_{minor}_{runtime.machine}" for minor in range(17, top + 1)]
    return [*tags, f"manylinux2014_{runtime.machine}"]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def platform_ok(platform: str, runtime: LambdaRuntime) -> bool:
    if platform == "any":
        return True
    match = _MANYLINUX.match(platform)
    if match is not None:
        glibc = (int(match[1]), int(match[2]))
        return match[3] == runtime.machine and glibc <= runtime.glibc
    legacy, _, machine = platform.partition("_")
    return legacy in _LEGACY_MANYLINUX and machine == runtime.machine


def tag_ok(tag: str, runtime: LambdaRuntime) -> bool:
    """One `interpreter-abi-platform` tag of a WHEEL file, for the runtime."""
    try:
        interpreter, abi, platform = tag.split("-")
    except ValueError:
        return False
    if not platform_ok(platform, runtime):
        return False
    if abi == "none":
        return interpreter.startswith("py3") or interpreter == runtime.python_tag
    if abi == "abi3":  # the stable ABI: built for this CPython or an older 3.x
        minor = interpreter.removeprefix("cp3")
        return interpreter.startswith("cp3") and minor.isdigit() and int(minor) <= runtime.minor
    return interpreter == runtime.python_tag and abi == runtime.python_tag


@dataclass(frozen=True)
class Distribution:
    name: str
    version: str
    dist_info: str
    tags: tuple[str, ...]
    purelib: bool
    files: tuple[str, ...]  # from RECORD


def distributions(archive: zipfile.ZipFile) -> dict[str, Distribution]:
    found: dict[str, Distribution] = {}
    names = set(archive.namelist())
    for path in sorted(names):
        match = _DIST_INFO.match(path)
        if match is None:
            continue
        dist_info = path.removesuffix("/WHEEL")
        wheel = HeaderParser().parsestr(archive.read(path).decode("utf-8"))
        record = f"{dist_info}/RECORD"
        files = (
            tuple(
                line.split(",")[0]
                for line in archive.read(record).decode("utf-8").splitlines()
                if line.strip()
            )
            if record in names
            else ()
        )
        found[normalize(match[1])] = Distribution(
            name=match[1],
            version=match[2],
            dist_info=dist_info,
            tags=tuple(wheel.get_all("Tag") or ()),
            purelib=(wheel.get("Root-Is-Purelib") or "").strip().lower() == "true",
            files=files,
        )
    return found


def _extension_modules(files: Iterable[str]) -> list[str]:
    """A package's own compiled modules; not the shared libraries auditwheel puts in `*.libs/`."""
    return [
        path for path in files if path.endswith(".so") and not path.split("/")[0].endswith(".libs")
    ]


def check_wheels(
    zip_path: Path,
    runtime: LambdaRuntime,
    required: Iterable[str] = BINARY_PACKAGES,
) -> tuple[list[str], list[str]]:
    """(what was checked, violations) for the binary packages in a deployment zip.

    Each `*.dist-info/WHEEL` that is not pure Python must carry a tag the runtime accepts
    (CPython ABI, manylinux no newer than the runtime's glibc, the architecture); every
    extension module in the zip must be named for the runtime's CPython and architecture;
    each required package must be there with extension modules of its own, all in the zip.
    """
    checked: list[str] = []
    violations: list[str] = []
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        dists = distributions(archive)
        for key, dist in sorted(dists.items()):
            if dist.purelib and all(tag.endswith("-none-any") for tag in dist.tags):
                continue
            good = [tag for tag in dist.tags if tag_ok(tag, runtime)]
            label = f"{dist.name} {dist.version}"
            if not good:
                violations.append(
                    f"{label}: no WHEEL tag fits {runtime.name} "
                    f"({runtime.python_tag}, glibc {runtime.glibc[0]}.{runtime.glibc[1]}, "
                    f"{runtime.machine}): {', '.join(dist.tags) or 'no tags'}"
                )
            else:
                checked.append(f"{label}: WHEEL tag {good[0]}")
            if key in {normalize(name) for name in required}:
                modules = _extension_modules(dist.files)
                if not modules:
                    violations.append(f"{label}: its RECORD lists no extension module")
                # Console scripts (`../../bin/f2py`) are left out of the zip on purpose.
                missing = [p for p in dist.files if p not in names and not p.startswith("../")]
                if missing:
                    violations.append(f"{label}: {len(missing)} files of its RECORD are missing")
                wrong = [m for m in modules if not _module_ok(m, runtime, good)]
                violations += [f"{label}: {m} is not built for {runtime.name}" for m in wrong]
                if modules and not wrong:
                    checked.append(
                        f"{label}: {len(modules)} extension modules *{runtime.extension_suffix}"
                    )
        for key in required:
            if normalize(key) not in dists:
                violations.append(f"{key}: not in the zip (no {key}-*.dist-info/WHEEL)")
        for path in sorted(names):
            match = _CPYTHON_SUFFIX.search(path)
            if match is not None and not path.endswith(runtime.extension_suffix):
                violations.append(f"{path}: built for another interpreter or platform")
            if path.endswith((".pyd", ".dylib")) or "-darwin.so" in path:
                violations.append(f"{path}: not a Linux extension module")
    return checked, violations


def _module_ok(path: str, runtime: LambdaRuntime, tags: list[str]) -> bool:
    if path.endswith(".abi3.so"):
        return any("-abi3-" in tag for tag in tags)
    return path.endswith(runtime.extension_suffix)
