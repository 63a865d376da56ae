"""Texts in request bodies (text/plain, JSON "text"/"texts") to RawInputs, sizes checked first."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from chalicelib.errors import EmptyInput, InputTooLarge, MalformedInput, UnsupportedMediaType
from chalicelib.models import RawInput

_NO_VALUES: npt.NDArray[Any] = np.empty(0)
# The charsets a text body may declare, by their Python codecs.
_CHARSETS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "iso-8859-1": "latin-1",
    "latin1": "latin-1",
    "latin-1": "latin-1",
    "windows-1252": "cp1252",
    "cp1252": "cp1252",
}


def charset(content_type: str) -> str:
    """The codec of a Content-Type's charset parameter (UTF-8 when it names none)."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            declared = value.strip().strip('"').lower()
            if declared not in _CHARSETS:
                raise UnsupportedMediaType(
                    f"charset {declared[:40]!r} is not supported; use utf-8, us-ascii, "
                    "iso-8859-1 or windows-1252"
                )
            return _CHARSETS[declared]
    return "utf-8"


def text_body(body: bytes, content_type: str, max_bytes: int) -> list[RawInput]:
    """A text/plain body as one text, in its declared charset."""
    if len(body) > max_bytes:
        raise InputTooLarge(f"the text is longer than {max_bytes} bytes")
    codec = charset(content_type)
    try:
        text = body.removeprefix(b"\xef\xbb\xbf").decode(codec)
    except UnicodeDecodeError as error:
        raise MalformedInput(f"the text is not {codec} (byte {error.start})") from None
    if not text.strip():
        raise EmptyInput("the text is blank")
    return [RawInput(_NO_VALUES, "text", text)]


def texts(values: list[Any], what: str, max_rows: int, max_chars: int) -> list[RawInput]:
    """A JSON document's texts, each a non-blank string."""
    if not values:
        raise EmptyInput(f'"{what}" is empty')
    if len(values) > max_rows:
        raise InputTooLarge(f"{len(values)} texts; the limit is {max_rows}")
    if not all(isinstance(value, str) for value in values):
        raise MalformedInput(f'"{what}" must be a string' + ("" if what == "text" else "s"))
    if not all(value.strip() for value in values):
        raise EmptyInput(f'"{what}" holds a blank text')
    if sum(map(len, values)) > max_chars:
        raise InputTooLarge(f"the texts are longer than {max_chars} characters")
    return [RawInput(_NO_VALUES, "text", value) for value in values]
