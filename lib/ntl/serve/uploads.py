"""Receiving an uploaded meter file: streamed to a private temporary folder, size-limited.

The body is written to disk as it arrives (a 190 MB export never sits in memory twice), into a
folder only this process's user can read (``mkdtemp``, mode 0700), under a fixed name: the name
the browser sent is kept for display only and never touches the file system. The folder is
removed when the request ends, whether scoring succeeded or failed.

Two ways in: a ``multipart/form-data`` form with the file in the field ``file`` (the upload page,
``curl -F file=@export.csv``), or the file itself as the request body (``curl --data-binary``).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

UPLOAD_NAME = "upload"  # the one name an uploaded file gets on disk
FILE_FIELD = "file"
MAX_FIELD_BYTES = 64_000  # a form field besides the file (layout, id column, ...)
MAX_DISPLAY_NAME = 120


class UploadTooLarge(Exception):
    """The request body passed the configured limit (answered with 413)."""


class UploadError(Exception):
    """A request that does not carry a usable file (answered with 400)."""


@dataclass
class Upload:
    """A received file: where it lies, the name to show for it, the other form fields."""

    path: Path
    display_name: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)

    def tell(self, message: str) -> str:
        """A loader message about this file, naming it as the user knows it, not our path."""
        return message.replace(str(self.path), self.display_name)


def display_name(filename: str | None) -> str:
    """A file name fit to show: its last path part, printable characters only, shortened."""
    if not filename:
        return "the uploaded file"
    name = re.split(r"[\\/]", filename)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:MAX_DISPLAY_NAME] or "the uploaded file"


def too_large_message(limit: int) -> str:
    """The 413 message: the limit and the option that sets it."""
    return f"the upload is larger than the limit of {limit / 1e6:g} MB (ntl serve --max-upload-mb)"


class _FormWriter:
    """python-multipart callbacks: the file part streamed to `target`, small fields kept."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.handle: BinaryIO | None = None
        self.filename: str | None = None
        self.file_seen = False
        self.fields: dict[str, str] = {}
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._field_name: str | None = None
        self._field_value = bytearray()
        self._in_file = False

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._add("_header_name", data[start:end]),
            "on_header_value": lambda data, start, end: self._add("_header_value", data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _add(self, name: str, data: bytes) -> None:
        setattr(self, name, getattr(self, name) + data)

    def _part_begin(self) -> None:
        self._headers, self._header_name, self._header_value = {}, b"", b""

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self._in_file = filename is not None and name == FILE_FIELD and not self.file_seen
        if filename is not None and not self._in_file:
            raise UploadError(f"send one file, in the form field {FILE_FIELD!r}")
        if self._in_file:
            self.file_seen = True
            self.filename = filename.decode("utf-8", "replace")
            self.handle = self.target.open("wb")
        else:
            self._field_name, self._field_value = name, bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            assert self.handle is not None
            self.handle.write(data[start:end])
            return
        self._field_value += data[start:end]
        if len(self._field_value) > MAX_FIELD_BYTES:
            raise UploadError(f"form field {self._field_name!r} is too long")

    def _part_end(self) -> None:
        if self._in_file:
            self.close()
            self._in_file = False
        elif self._field_name:
            self.fields[self._field_name] = self._field_value.decode("utf-8", "replace")

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


async def _body(request: Request, max_bytes: int) -> AsyncIterator[bytes]:
    """The request body in chunks; UploadTooLarge as soon as it passes `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise UploadTooLarge(too_large_message(max_bytes))
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise UploadTooLarge(too_large_message(max_bytes))
            yield chunk
    except ClientDisconnect as exc:
        raise UploadError("the upload was interrupted") from exc


async def _receive(request: Request, folder: Path, max_bytes: int) -> Upload:
    target = folder / UPLOAD_NAME
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type == b"multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise UploadError("multipart upload without a boundary")
        writer = _FormWriter(target)
        parser = MultipartParser(boundary, writer.callbacks())
        try:
            async for chunk in _body(request, max_bytes):
                parser.write(chunk)
            parser.finalize()
        except (UploadError, UploadTooLarge):
            raise
        except Exception as exc:  # python-multipart's parse errors
            raise UploadError(f"the upload is not a well-formed form ({exc})") from exc
        finally:
            writer.close()
        if not writer.file_seen:
            raise UploadError(f"no file in the upload: send it in the form field {FILE_FIELD!r}")
        name, fields = display_name(writer.filename), writer.fields
    else:
        with target.open("wb") as handle:
            async for chunk in _body(request, max_bytes):
                handle.write(chunk)
        name, fields = display_name(request.query_params.get("filename")), {}
    size = target.stat().st_size
    if size == 0:
        raise UploadError(f"{name}: the file is empty")
    return Upload(target, name, size, fields)


@asynccontextmanager
async def received_upload(request: Request, max_bytes: int) -> AsyncIterator[Upload]:
    """The request's file in a private temporary folder, removed on leaving (also on error)."""
    folder = Path(tempfile.mkdtemp(prefix="ntl-upload-"))
    try:
        yield await _receive(request, folder, max_bytes)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
