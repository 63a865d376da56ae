"""Script-mode code packed into the model artifact, as the SageMaker SDK's repack_model does."""

from __future__ import annotations

import contextlib
import io
import tarfile
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.errors import DeploymentFailed
from chalicelib.processing.model_packing import code_to_pack, pack_code
from tests.factories import tar_gz

CODE = "s3://bucket/job/source/sourcedir.tar.gz"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
PYTORCH = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310"


def archive(files: dict[str, bytes], extra: Sequence[tarfile.TarInfo] = ()) -> io.BytesIO:
    return io.BytesIO(tar_gz(files, extra))


def members(packed: io.BytesIO) -> dict[str, bytes]:
    packed.seek(0)
    with tarfile.open(fileobj=packed, mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("image", "isolation", "packed"),
    [
        (SKLEARN, True, True),  # an isolated container cannot download its code
        (SKLEARN, False, False),  # the scikit-learn toolkit downloads it
        (PYTORCH, False, True),  # TorchServe reads the code from the model directory
        (PYTORCH.replace("pytorch", "tensorflow"), False, True),
    ],
)
def test_code_is_packed_when_the_container_could_not_or_would_not_download_it(
    image: str, isolation: bool, packed: bool
) -> None:
    environment = {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": CODE}
    assert code_to_pack(image, environment, isolation) == (CODE if packed else None)


def test_code_already_in_the_model_or_no_script_is_not_packed() -> None:
    inside = {"SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
    assert code_to_pack(SKLEARN, inside, True) is None
    assert code_to_pack(SKLEARN, {}, True) is None


def test_the_code_goes_under_code_and_replaces_the_models_own() -> None:
    model = archive(
        {"model.joblib": b"weights", "code/old.py": b"stale", "./extra.txt": b"x", "/abs": b"a"}
    )
    code = archive({"train.py": b"def model_fn(d): ...", "lib/util.py": b"u = 1"})
    packed = io.BytesIO()
    pack_code(model, code, packed, 10_000)
    assert members(packed) == {
        "model.joblib": b"weights",
        "extra.txt": b"x",
        "abs": b"a",  # an absolute path made relative, as tarfile's data filter does
        "code/train.py": b"def model_fn(d): ...",
        "code/lib/util.py": b"u = 1",
    }


def unsafe(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    "member",
    [
        unsafe("../../etc/passwd"),
        unsafe("escape", tarfile.SYMTYPE, "../../../etc/shadow"),
        unsafe("device", tarfile.CHRTYPE),
    ],
)
def test_members_that_would_land_outside_the_model_directory_are_refused(
    member: tarfile.TarInfo,
) -> None:
    model = archive({"model.joblib": b"w"}, [member])
    with pytest.raises(DeploymentFailed, match="unsafe member"):
        pack_code(model, archive({"train.py": b""}), io.BytesIO(), 10_000)


def test_a_decompression_bomb_stops_at_the_limit() -> None:
    model = archive({"zeros.bin": bytes(1_000_000)})
    with pytest.raises(DeploymentFailed, match="repack limit"):
        pack_code(model, archive({"train.py": b""}), io.BytesIO(), 100_000)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2_000))
def test_any_bytes_as_an_artifact_pack_or_fail_as_a_deployment(data: bytes) -> None:
    with contextlib.suppress(DeploymentFailed):
        pack_code(io.BytesIO(data), archive({"train.py": b""}), io.BytesIO(), 100_000)
