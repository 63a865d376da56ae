"""The wheel check on synthetic deployment zips: Lambda's python3.12 builds pass, others fail."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from deploy.wheels import RUNTIMES, check_wheels, platforms, tag_ok

RUNTIME = RUNTIMES["python3.12"]
SUFFIX = ".cpython-312-x86_64-linux-gnu.so"
GOOD = {
    "numpy": (
        "numpy",
        "2.3.5",
        ["cp312-cp312-manylinux_2_27_x86_64", "cp312-cp312-manylinux_2_28_x86_64"],
    ),
    "pillow": ("PIL", "12.3.0", ["cp312-cp312-manylinux_2_27_x86_64"]),
    "orjson": (
        "orjson",
        "3.13.0",
        ["cp312-cp312-manylinux_2_17_x86_64", "cp312-cp312-manylinux2014_x86_64"],
    ),
}


def wheel(
    files: dict[str, bytes],
    dist: str,
    package: str,
    version: str,
    tags: list[str],
    modules: list[str] | None = None,
    purelib: bool = False,
) -> None:
    """Adds one installed distribution (dist-info, RECORD, modules) to `files`."""
    info = f"{dist}-{version}.dist-info"
    modules = [f"{package}/_core{SUFFIX}"] if modules is None else modules
    for module in modules:
        files[module] = b"\x7fELF"
    files[f"{package}/__init__.py"] = b""
    files[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: test\n"
        f"Root-Is-Purelib: {'true' if purelib else 'false'}\n"
        + "".join(f"Tag: {tag}\n" for tag in tags)
    ).encode()
    record = [
        *modules,
        f"{package}/__init__.py",
        f"{info}/WHEEL",
        f"{info}/RECORD",
        "../../bin/tool",
    ]
    files[f"{info}/RECORD"] = "".join(f"{path},,\n" for path in record).encode()


def good_files() -> dict[str, bytes]:
    files: dict[str, bytes] = {"app.py": b"", "numpy.libs/libopenblas-abc.so": b"\x7fELF"}
    for dist, (package, version, tags) in GOOD.items():
        wheel(files, dist, package, version, tags)
    wheel(files, "boto3", "boto3", "1.43.11", ["py3-none-any"], modules=[], purelib=True)
    return files


def zip_of(tmp_path: Path, files: dict[str, bytes]) -> Path:
    path = tmp_path / "deployment.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_lambda_builds_of_numpy_pillow_and_orjson_pass(tmp_path: Path) -> None:
    checked, violations = check_wheels(zip_of(tmp_path, good_files()), RUNTIME)

    assert violations == []
    assert "numpy 2.3.5: WHEEL tag cp312-cp312-manylinux_2_27_x86_64" in checked
    assert f"orjson 3.13.0: 1 extension modules *{SUFFIX}" in checked


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        (["cp311-cp311-manylinux_2_17_x86_64"], "another CPython"),
        (["cp312-cp312-macosx_11_0_arm64"], "macOS"),
        (["cp312-cp312-manylinux_2_35_x86_64"], "a glibc newer than Amazon Linux 2023's"),
        (["cp312-cp312-manylinux_2_28_aarch64"], "arm64"),
        (["cp312-cp312-musllinux_1_2_x86_64"], "musl"),
        (["cp312-cp312-win_amd64"], "Windows"),
    ],
)
def test_a_wheel_built_for_another_target_fails(
    tmp_path: Path, tags: list[str], reason: str
) -> None:
    files = good_files()
    wheel(files, "numpy", "numpy", "2.3.5", tags)

    _, violations = check_wheels(zip_of(tmp_path, files), RUNTIME)

    assert any(v.startswith("numpy 2.3.5: no WHEEL tag fits python3.12") for v in violations), (
        reason
    )


def test_an_extension_module_for_another_interpreter_fails_even_with_a_good_tag(
    tmp_path: Path,
) -> None:
    files = good_files()
    wheel(
        files,
        "pillow",
        "PIL",
        "12.3.0",
        GOOD["pillow"][2],
        modules=["PIL/_imaging.cpython-311-x86_64-linux-gnu.so"],
    )

    _, violations = check_wheels(zip_of(tmp_path, files), RUNTIME)

    assert (
        "pillow 12.3.0: PIL/_imaging.cpython-311-x86_64-linux-gnu.so is not built for python3.12"
        in violations
    )
    assert (
        "PIL/_imaging.cpython-311-x86_64-linux-gnu.so: built for another interpreter or platform"
        in violations
    )


def test_a_missing_binary_package_fails(tmp_path: Path) -> None:
    files = {k: v for k, v in good_files().items() if not k.startswith(("orjson", "orjson-"))}

    _, violations = check_wheels(zip_of(tmp_path, files), RUNTIME)

    assert "orjson: not in the zip (no orjson-*.dist-info/WHEEL)" in violations


def test_a_package_without_its_extension_modules_fails(tmp_path: Path) -> None:
    files = good_files()
    del files[f"numpy/_core{SUFFIX}"]

    _, violations = check_wheels(zip_of(tmp_path, files), RUNTIME)

    assert "numpy 2.3.5: 1 files of its RECORD are missing" in violations


def test_a_stray_macos_module_anywhere_fails(tmp_path: Path) -> None:
    files = {**good_files(), "vendorlib/_speedups.cpython-312-darwin.so": b""}

    _, violations = check_wheels(zip_of(tmp_path, files), RUNTIME)

    assert any("_speedups.cpython-312-darwin.so" in v for v in violations)


def test_a_stable_abi_wheel_of_an_older_cpython_fits() -> None:
    assert tag_ok("cp38-abi3-manylinux_2_17_x86_64", RUNTIME)
    assert not tag_ok("cp313-abi3-manylinux_2_17_x86_64", RUNTIME)
    assert tag_ok("py3-none-any", RUNTIME)
    assert tag_ok("cp312-cp312-manylinux1_x86_64", RUNTIME)


def test_pip_is_asked_for_every_manylinux_glibc_up_to_the_runtime() -> None:
    wanted = platforms(RUNTIME)

    assert wanted[0] == "manylinux_2_17_x86_64"
    assert "manylinux_2_28_x86_64" in wanted
    assert "manylinux_2_34_x86_64" in wanted
    assert "manylinux_2_35_x86_64" not in wanted
    assert wanted[-1] == "manylinux2014_x86_64"
