"""The file store: content kept once by SHA-256 under the data dir, metadata in the database,
and signed, expiring download links any executor can fetch with a plain GET.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, Signer, TimestampSigner
from sqlalchemy import BigInteger, String, select
from sqlalchemy.orm import Mapped, mapped_column

from common.db import UTCDateTime, db
from common.timeutil import utcnow

SOURCES = ("file", "demand", "icon", "video", "screenshot", "checkpoint", "package")
CHUNK = 1024 * 1024


class StoredFile(db.Model):
    """An uploaded file: its id on the wire (``fileId``), original name, and content hash."""

    __tablename__ = "stored_file"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(128), default="application/octet-stream")
    owner: Mapped[str] = mapped_column(String(128))  # user:NAME or robot:ID
    run_instance_id: Mapped[str | None] = mapped_column(String(40), index=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FileTooLarge(Exception):
    pass


class BlobStore:
    """Content-addressed blobs under ``root``: written to a temp file, fsynced, renamed into place."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def stage(self, stream: BinaryIO, limit: int) -> Staged:
        """Copy ``stream`` to a temp file beside the blobs, hashing it, ``limit`` enforced while
        reading (FileTooLarge: nothing is left behind). The content is examined at ``Staged.path``
        and then kept (``keep``) or dropped (``discard``); memory stays one chunk whatever the size."""
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise FileTooLarge(f"larger than {limit} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            os.unlink(tmp)
            raise
        return Staged(self, Path(tmp), digest.hexdigest(), size)

    def put_stream(self, stream: BinaryIO, limit: int) -> tuple[str, int]:
        """Store ``stream`` (at most ``limit`` bytes); return (sha256, size). Durable on return."""
        staged = self.stage(stream, limit)
        staged.keep()
        return staged.sha256, staged.size


@dataclass
class Staged:
    """Content written and hashed but not yet in the store."""

    store: BlobStore
    path: Path
    sha256: str
    size: int

    def keep(self) -> None:
        """Move the content into the store (once per SHA-256: a copy already there is kept)."""
        final = self.store.path_for(self.sha256)
        final.parent.mkdir(exist_ok=True)
        if final.exists():
            self.path.unlink(missing_ok=True)
        else:
            os.replace(self.path, final)

    def discard(self) -> None:
        """Drop the content (refused after examination)."""
        self.path.unlink(missing_ok=True)


def new_file_id() -> str:
    return "f_" + secrets.token_hex(16)


def save_file(
    store: BlobStore,
    stream: BinaryIO,
    *,
    source: str,
    name: str,
    owner: str,
    limit: int,
    content_type: str = "application/octet-stream",
    run_instance_id: str | None = None,
) -> StoredFile:
    """Store content and add its metadata row to the session (the caller commits)."""
    sha, size = store.put_stream(stream, limit)
    return add_file_row(
        sha,
        size,
        source=source,
        name=name,
        owner=owner,
        content_type=content_type,
        run_instance_id=run_instance_id,
    )


def add_file_row(
    sha: str,
    size: int,
    *,
    source: str,
    name: str,
    owner: str,
    content_type: str = "application/octet-stream",
    run_instance_id: str | None = None,
) -> StoredFile:
    """The metadata row of content already in the store, added to the session (the caller commits)."""
    safe_name = os.path.basename(name.replace("\\", "/")).strip() or "file"
    row = StoredFile(
        id=new_file_id(),
        source=source,
        name=safe_name[:255],
        sha256=sha,
        size=size,
        content_type=content_type[:128],
        owner=owner,
        run_instance_id=run_instance_id,
    )
    db.session.add(row)
    return row


def get_file(file_id: str) -> StoredFile | None:
    return db.session.scalar(select(StoredFile).where(StoredFile.id == file_id))


class LinkSigner:
    """Signs ``(fileId, audience)`` with an expiry; a tampered or expired link fails verification."""

    def __init__(self, secret_key: str, ttl: int) -> None:
        self._signer = TimestampSigner(secret_key, salt="rpa.file-link")
        self._plain = Signer(secret_key, salt="rpa.run-token")
        self.ttl = ttl

    def sign(self, file_id: str, audience: str) -> str:
        return self._signer.sign(f"{file_id}|{audience}").decode()

    def url(self, base_url: str, file_id: str, audience: str) -> str:
        """An absolute, signed, expiring GET link to a stored file for ``audience``."""
        return f"{base_url.rstrip('/')}/v1/file/{file_id}/content?token={quote(self.sign(file_id, audience))}"

    def sign_value(self, value: str) -> str:
        """Sign an arbitrary value (no expiry: the caller checks validity against the database)."""
        return self._plain.sign(value).decode()

    def unsign_value(self, token: str) -> str | None:
        try:
            return self._plain.unsign(token).decode()
        except BadSignature:
            return None

    def verify(self, token: str, file_id: str) -> str | None:
        """Return the audience if ``token`` is a valid, unexpired link to ``file_id``."""
        try:
            value = self._signer.unsign(token, max_age=self.ttl).decode()
        except (SignatureExpired, BadSignature):
            return None
        fid, _, audience = value.partition("|")
        return audience if fid == file_id else None
