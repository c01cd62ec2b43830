"""One upload as the server receives it: a multipart body parsed in memory (never written to disk), the image
decoded under a pixel limit as ``semicycle translate`` decodes a file, and every failure as a :class:`RequestError`
with its HTTP status and a one-line message that says what to send instead."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..data.io import to_rgb_array

IMAGE_FIELD = "image"
CURL_HINT = "e.g. curl -F image=@photo.jpg URL/translate"


class RequestError(Exception):
    """A request the server refuses: ``status`` (4xx or 503) and a one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Upload:
    """The form of a POST /translate: the image file's bytes and name, and the text fields."""

    image: bytes
    filename: str
    fields: dict[str, str] = field(default_factory=dict)


def parse_form(body: bytes, content_type: str) -> Upload:
    """A multipart/form-data body -> :class:`Upload` (400 when it is not one, or has no ``image`` file)."""
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise RequestError(400, f"expected a multipart/form-data upload with the file in the field '{IMAGE_FIELD}' ({CURL_HINT})")
    parts: list[dict] = []
    header: list[bytes] = [b"", b""]

    def on_part_begin():
        parts.append({"headers": {}, "data": bytearray()})

    def on_header_field(data, start, end):
        header[0] += data[start:end]

    def on_header_value(data, start, end):
        header[1] += data[start:end]

    def on_header_end():
        parts[-1]["headers"][header[0].strip().lower()] = header[1].strip()
        header[0], header[1] = b"", b""

    def on_part_data(data, start, end):
        parts[-1]["data"] += data[start:end]

    callbacks = {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                 "on_header_value": on_header_value, "on_header_end": on_header_end, "on_part_data": on_part_data}
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise RequestError(400, f"malformed multipart upload ({exc}); {CURL_HINT}") from None
    image, fields, names = None, {}, []
    for part in parts:
        _, disposition = parse_options_header(part["headers"].get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        names.append(repr(name))
        if name == IMAGE_FIELD and image is None:
            image = Upload(bytes(part["data"]), disposition.get(b"filename", b"upload").decode("utf-8", "replace"))
        elif b"filename" not in disposition:
            fields[name] = bytes(part["data"]).decode("utf-8", "replace")
    if image is None:
        raise RequestError(400, f"no '{IMAGE_FIELD}' field in the upload (fields sent: {', '.join(names) or 'none'}); {CURL_HINT}")
    image.fields = fields
    return image


def decode_image(upload: Upload, max_pixels: int) -> np.ndarray:
    """The uploaded file as an HxWx3 uint8 array, converted as ``semicycle translate`` converts a file. 400: empty,
    not an image, truncated; 413: over ``max_pixels`` (read from the header before any pixel is decoded)."""
    name = upload.filename
    if not upload.image:
        raise RequestError(400, f"upload '{name}' is empty (0 bytes); send a PNG or JPEG image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(upload.image)) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise RequestError(413, f"upload '{name}' is {width}x{height} pixels, over the limit of {max_pixels} "
                                            "(--max-pixels); send a smaller image")
                img.load()
                return to_rgb_array(img)[0]
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RequestError(413, f"upload '{name}' declares more pixels than Pillow allows (a decompression bomb?); "
                                "send a smaller image") from None
    except UnidentifiedImageError:
        raise RequestError(400, f"upload '{name}' is not an image Pillow can read; send a PNG or JPEG image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = (str(exc).splitlines() or [""])[0][:120] or type(exc).__name__
        raise RequestError(400, f"upload '{name}' cannot be decoded ({reason}); send the complete file") from None
