"""Reading one image upload from a multipart request, with the size limit enforced while
streaming.

FastAPI's ``UploadFile`` parameters parse (and spool) the whole body before the endpoint
runs, so a 2 GB upload would be read in full just to be refused. Here the declared
``Content-Length`` is checked first and the body is then counted chunk by chunk as the
multipart parser consumes it; the request is refused with 413 as soon as it passes the limit.

Every multipart body goes through :func:`parse_multipart`, which also holds the other
limits of a form: part headers up to :data:`MAX_PART_HEADER_BYTES` (long file names are
fine; file names are cut to :data:`MAX_FILENAME_CHARS`), the body must end with its closing
boundary, the form's charset must be UTF-8 (a ``charset=utf-7`` form could smuggle lone
surrogates into text fields) and every text field and file name must be valid Unicode
(:func:`lookalike.server.jsonbody.check_text`).
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import python_multipart
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from lookalike.server.errors import ApiError
from lookalike.server.jsonbody import JsonBodyError, check_text

#: Room for the multipart framing (boundaries, part headers, small fields) on top of the
#: file itself when bounding the whole body.
MULTIPART_OVERHEAD = 64 * 1024

#: Longest header line of one part (python-multipart's default, 4 KB, refused a 5,000-character
#: file name as "Invalid multipart data").
MAX_PART_HEADER_BYTES = 64 * 1024
#: File names are cut to this many characters (they are only echoed back).
MAX_FILENAME_CHARS = 200
#: Charsets a form may declare (what browsers and HTTP clients send).
_CHARSETS = frozenset({"utf-8", "ascii"})

#: Part content types accepted as "maybe an image"; the decoder has the final word.
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})


@dataclass
class Upload:
    """An uploaded file held in memory, plus the form's text fields (last value wins)."""

    filename: str
    content_type: str
    data: bytes
    fields: dict[str, str] = field(default_factory=dict)


def too_large(max_bytes: int) -> ApiError:
    """The 413 error for an upload over ``max_bytes``."""
    return ApiError(
        413,
        "payload_too_large",
        f"the upload is larger than the {_human(max_bytes)} limit; send a smaller photo",
    )


def _human(n: int) -> str:
    if n >= 2**20 and n % 2**20 == 0:
        return f"{n // 2**20} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"


async def limited(stream: AsyncIterator[bytes], limit: int, max_bytes: int) -> AsyncIterator[bytes]:
    """Pass ``stream`` through, raising 413 once more than ``limit`` bytes went by.

    Args:
        stream: the request body chunks.
        limit: bytes allowed in the whole body.
        max_bytes: the file limit named in the error message.
    """
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise too_large(max_bytes)
        yield chunk


def media_type(value: str | None) -> str:
    """The bare, lower-case media type of a Content-Type value (``""`` when absent)."""
    return (value or "").split(";")[0].strip().lower()


def _check_declared_length(request: Request, limit: int, max_bytes: int) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return  # chunked transfer: only the streaming count applies
    try:
        length = int(declared)
    except ValueError:
        raise ApiError(400, "bad_request", "invalid Content-Length header") from None
    if length > limit:
        raise too_large(max_bytes)


class BoundedMultiPartParser(MultiPartParser):
    """Starlette's multipart parser with the limits above, and which knows whether the
    body ended with its closing boundary (``complete``)."""

    complete = False
    #: The most bytes one file part may hold (None: no per-file limit while streaming).
    max_file_bytes: int | None = None

    def on_end(self) -> None:
        """The closing boundary was read."""
        self.complete = True

    async def parse(self) -> FormData:
        """The form, as :meth:`MultiPartParser.parse` (same callbacks), with long part
        headers allowed and a body without its closing boundary refused.

        Raises:
            MultiPartException: a malformed body; the message says what is wrong.
        """
        _, params = parse_options_header(self.headers["Content-Type"])
        charset = params.get(b"charset", b"utf-8")
        charset = charset.decode("latin-1") if isinstance(charset, bytes) else charset
        try:
            self._charset = codecs.lookup(charset).name
        except LookupError:
            self._charset = charset
        if self._charset not in _CHARSETS:
            raise MultiPartException(f"unsupported form charset {charset[:40]!r}; use UTF-8")
        boundary = params.get(b"boundary")
        if not boundary:
            raise MultiPartException("the Content-Type header has no boundary parameter")
        callbacks = {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }
        try:
            parser = python_multipart.MultipartParser(
                boundary, callbacks, max_header_size=MAX_PART_HEADER_BYTES
            )
            async for chunk in self.stream:
                parser.write(chunk)
                for part, data in self._file_parts_to_write:
                    await part.file.write(data)  # type: ignore[union-attr]
                    # One file over the limit is refused now, not once the body (which may
                    # carry several files) has passed its own, larger limit.
                    if self.max_file_bytes is not None and (
                        (part.file.size or 0) > self.max_file_bytes  # type: ignore[union-attr]
                    ):
                        raise too_large(self.max_file_bytes)
                for part in self._file_parts_to_finish:
                    await part.file.seek(0)  # type: ignore[union-attr]
                self._file_parts_to_write.clear()
                self._file_parts_to_finish.clear()
            parser.finalize()
            if not self.complete:
                raise MultiPartException("the body ends without its closing boundary (cut short?)")
        except BaseException as exc:
            for file in self._files_to_close_on_error:
                file.close()
            if isinstance(exc, FormParserError):
                raise MultiPartException(str(exc) or type(exc).__name__) from exc
            raise
        return FormData(self.items)


def _check_form_text(form: FormData) -> None:
    """Every field name, text value and file name is valid Unicode."""
    for key, value in form.multi_items():
        check_text(key, "a form field name")
        if isinstance(value, str):
            check_text(value, f"form field {key[:40]!r}")
        elif value.filename is not None:
            check_text(value.filename, f"the file name of field {key[:40]!r}")


async def parse_multipart(
    request: Request, limit: int, max_bytes: int, *, max_files: int, max_fields: int
) -> FormData:
    """The multipart form of ``request``, its body bounded to ``limit`` bytes (declared and
    while streaming) and each file part to ``max_bytes`` (while streaming). The caller closes
    the form.

    Args:
        request: a multipart/form-data request.
        limit: bytes allowed in the whole body.
        max_bytes: bytes allowed in one file part (named in the 413 message).
        max_files, max_fields: the most file and text parts accepted.

    Raises:
        ApiError: 400 for an invalid Content-Length, 413 when too large, 422 when malformed.
    """
    _check_declared_length(request, limit, max_bytes)
    parser = BoundedMultiPartParser(
        request.headers,
        limited(request.stream(), limit, max_bytes),
        max_files=max_files,
        max_fields=max_fields,
    )
    parser.max_file_bytes = max_bytes
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        detail = f"malformed multipart body: {exc.message}"
        raise ApiError(422, "invalid_multipart", detail) from exc
    try:
        _check_form_text(form)
    except JsonBodyError as exc:
        await form.close()
        raise ApiError(422, "invalid_multipart", str(exc)) from None
    return form


def check_image_part(upload: UploadFile, max_bytes: int, default_name: str) -> tuple[str, str]:
    """Size and declared type checks of one uploaded file part (the decoder has the final
    word); returns its file name (``default_name`` when it has none) and media type.

    Raises:
        ApiError: 413 over ``max_bytes``, 415 when declared as a non-image type.
    """
    if (upload.size or 0) > max_bytes:
        raise too_large(max_bytes)
    filename = (upload.filename or default_name)[:MAX_FILENAME_CHARS]
    part_type = media_type(upload.content_type)
    if part_type not in _GENERIC_TYPES and not part_type.startswith("image/"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"{filename!r} is {part_type}, not an image; upload a JPEG, PNG, WebP, HEIC, "
            "AVIF, GIF or BMP photo",
        )
    return filename, part_type


async def _image_form(
    request: Request, field: str, limit: int, max_bytes: int, *, max_files: int, max_fields: int
) -> FormData:
    """The multipart form of an image upload (:func:`parse_multipart`); 415 when the body is
    not multipart."""
    if media_type(request.headers.get("content-type")) != "multipart/form-data":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the photo as multipart/form-data with a file field named {field!r}",
        )
    return await parse_multipart(
        request, limit, max_bytes, max_files=max_files, max_fields=max_fields
    )


def _missing_image(field: str) -> ApiError:
    return ApiError(422, "missing_image", f"no file in multipart field {field!r}; attach a photo")


async def read_image_upload(
    request: Request, max_bytes: int, field: str = "image", max_fields: int = 16
) -> Upload:
    """The file in multipart field ``field`` of ``request``, at most ``max_bytes`` long.

    Text fields (at most ``max_fields``) come back in ``Upload.fields``.

    Raises:
        ApiError: 415 when the body is not multipart or the part is declared as a non-image
            type, 413 when too large, 422 when the body is malformed or has no such file.
    """
    form = await _image_form(
        request,
        field,
        max_bytes + MULTIPART_OVERHEAD,
        max_bytes,
        max_files=1,
        max_fields=max_fields,
    )
    try:
        upload = form.get(field)
        if not isinstance(upload, UploadFile):
            raise _missing_image(field)
        filename, part_type = check_image_part(upload, max_bytes, "upload")
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        return Upload(filename, part_type, await upload.read(), fields)
    finally:
        await form.close()


async def read_image_uploads(
    request: Request, max_bytes: int, max_files: int, field: str = "image", max_fields: int = 16
) -> tuple[list[Upload], dict[str, str]]:
    """The files (1 to ``max_files``, each at most ``max_bytes``, all in multipart field
    ``field``) and the text fields (at most ``max_fields``, last value wins) of ``request``;
    the body is bounded to ``max_files`` times ``max_bytes`` while streaming.

    Returns:
        (the files in the order sent, each without ``fields``; the text fields).

    Raises:
        ApiError: 415 when the body is not multipart or a part is declared as a non-image
            type, 413 when a file (or the body) is too large, 422 when the body is
            malformed, has too many files or fields, a file field other than ``field``, or
            no file.
    """
    form = await _image_form(
        request,
        field,
        max_bytes * max_files + MULTIPART_OVERHEAD,
        max_bytes,
        max_files=max_files,
        max_fields=max_fields,
    )
    try:
        uploads: list[Upload] = []
        fields: dict[str, str] = {}
        for key, value in form.multi_items():
            if not isinstance(value, UploadFile):
                fields[key] = value
                continue
            if key != field:
                raise ApiError(
                    422,
                    "invalid_multipart",
                    f"unexpected file field {key[:40]!r}; send every photo as {field!r}",
                )
            filename, part_type = check_image_part(value, max_bytes, "upload")
            uploads.append(Upload(filename, part_type, await value.read()))
        if not uploads:
            raise _missing_image(field)
        return uploads, fields
    finally:
        await form.close()
