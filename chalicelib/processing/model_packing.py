"""A model artifact with its inference code packed in under code/, as the SageMaker SDK's
repack_model packs it for containers that cannot download their code (pure; file objects)."""

from __future__ import annotations

import tarfile
from typing import IO

from chalicelib.errors import DeploymentFailed

CODE_DIRECTORY = "code"
# Where SageMaker unpacks the artifact: what SAGEMAKER_SUBMIT_DIRECTORY names once packed.
PACKED_SUBMIT_DIRECTORY = "/opt/ml/model/code"
# The deep learning containers whose toolkits (TorchServe, TensorFlow Serving, MMS) read the
# code from the model directory whatever the isolation: the SDK repacks for them always.
_REPACKED_ALWAYS = ("pytorch-inference", "tensorflow-inference", "mxnet-inference")


def code_to_pack(image: str, environment: dict[str, str], network_isolation: bool) -> str | None:
    """The `s3://` code a container could not read from S3 (network isolation) or would not
    (its toolkit reads /opt/ml/model/code), as the SDK decides; None when nothing is packed."""
    submitted = environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    if not submitted.startswith("s3://"):
        return None
    repository = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    reads_model_directory = repository.endswith(_REPACKED_ALWAYS)
    return submitted if network_isolation or reads_model_directory else None


def pack_code(model: IO[bytes], code: IO[bytes], out: IO[bytes], max_unpacked_bytes: int) -> None:
    """Writes model.tar.gz's members (but its own code/) and then the code's under code/ to
    `out` as one tar.gz, through tarfile's data filter (absolute paths made relative). Members
    that would land outside the model directory ("..", links out, devices) and more than
    `max_unpacked_bytes` in all are DeploymentFailed."""
    budget = [max_unpacked_bytes]
    with tarfile.open(fileobj=out, mode="w:gz") as packed:
        for source, prefix in ((model, ""), (code, f"{CODE_DIRECTORY}/")):
            try:
                with tarfile.open(fileobj=source, mode="r:*") as archive:
                    for member in archive:
                        if not prefix and _in_code(member.name):
                            continue
                        _copy(archive, member, prefix, packed, budget)
            except (tarfile.TarError, EOFError, OSError) as error:
                what = "the model artifact" if not prefix else "the inference code"
                raise DeploymentFailed(f"{what} is not a readable tar.gz: {error}") from None


def _in_code(name: str) -> bool:
    return name.removeprefix("./") in (CODE_DIRECTORY, "") or name.removeprefix("./").startswith(
        f"{CODE_DIRECTORY}/"
    )


def _copy(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    prefix: str,
    packed: tarfile.TarFile,
    budget: list[int],
) -> None:
    try:
        safe = tarfile.data_filter(member, "/opt/ml/model")
    except tarfile.FilterError as error:
        raise DeploymentFailed(f"unsafe member {member.name[:200]!r}: {error}") from None
    budget[0] -= safe.size
    if budget[0] < 0:
        raise DeploymentFailed("the model and its code unpack to more than the repack limit")
    # The data filter drops owners (None: "leave them to the extractor"); a header needs some.
    renamed = safe.replace(
        name=prefix + safe.name.removeprefix("./"),
        uid=0,
        gid=0,
        uname="",
        gname="",
        mode=member.mode & 0o755 if safe.mode is None else safe.mode,
        deep=False,
    )
    if renamed.islnk():  # a hard link names another member, which moved with it
        renamed = renamed.replace(linkname=prefix + safe.linkname.removeprefix("./"), deep=False)
    packed.addfile(renamed, archive.extractfile(member) if member.isreg() else None)
