"""Where backups go: a folder (local, or a mounted share), or an S3-compatible bucket (AWS S3, Backblaze B2,
Cloudflare R2, MinIO) through boto3.

A target stores named objects and nothing else; what makes an object a backup (its manifest, written last) is
``offsite``'s business. Every failure is a ``StoreError`` whose message says what to check (credentials, the
bucket's name, the endpoint); nothing here is retried beyond boto3's own standard retries.
"""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from enigma_apex.errors import ConfigError, StoreError


@dataclass(frozen=True)
class StoredObject:
    name: str
    size: int
    modified: datetime


class Target(Protocol):
    url: str  # shown to the user; never carries a credential

    def put(self, name: str, source: Path) -> None: ...

    def put_bytes(self, name: str, data: bytes) -> None: ...

    def get(self, name: str, destination: Path) -> None: ...

    def get_bytes(self, name: str) -> bytes: ...

    def list(self) -> list[StoredObject]: ...

    def delete(self, name: str) -> None: ...


@dataclass(frozen=True)
class S3Access:
    """How to reach an S3-compatible service (``[backup]`` in the configuration)."""

    endpoint: str | None = None  # None: AWS itself
    region: str = "us-east-1"
    access_key: str | None = None  # None: boto3's own lookup (environment, ~/.aws, instance role)
    secret_key: str | None = None


class FolderTarget:
    """A folder: each object written beside its final name and renamed into place (never seen half-written)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = str(folder)

    def put(self, name: str, source: Path) -> None:
        self._write(name, lambda part: _copy(source, part))

    def put_bytes(self, name: str, data: bytes) -> None:
        self._write(name, lambda part: part.write_bytes(data))

    def _write(self, name: str, write: Callable[[Path], object]) -> None:
        target = self.folder / name
        part = target.with_name(target.name + ".part")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write(part)
            os.replace(part, target)
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from exc

    def get(self, name: str, destination: Path) -> None:
        try:
            _copy(self.folder / name, destination)
        except OSError as exc:
            raise StoreError(f"cannot read {self.folder / name}: {exc.strerror or exc}") from exc

    def get_bytes(self, name: str) -> bytes:
        try:
            return (self.folder / name).read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read {self.folder / name}: {exc.strerror or exc}") from exc

    def list(self) -> list[StoredObject]:
        if not self.folder.is_dir():
            return []
        out = []
        for path in sorted(self.folder.iterdir()):
            if path.is_file() and not path.name.endswith(".part"):
                stat = path.stat()
                out.append(StoredObject(path.name, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
        return out

    def delete(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)


def _copy(source: Path, destination: Path) -> None:
    with source.open("rb") as src, destination.open("wb") as out:
        for block in iter(lambda: src.read(1 << 20), b""):
            out.write(block)
        out.flush()
        os.fsync(out.fileno())


class S3Target:
    """``s3://bucket/prefix``: objects ``prefix/name``. Large files go up in parts (boto3's transfer manager): an
    upload cut off midway leaves no object, since S3 shows one only when its last part is in."""

    def __init__(self, bucket: str, prefix: str, access: S3Access, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" + (f" at {access.endpoint}" if access.endpoint else "")
        self.client = client if client is not None else _client(access)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, name: str, source: Path) -> None:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, use_threads=False)
        self._call(lambda: self.client.upload_file(str(source), self.bucket, self._key(name), Config=config), name)

    def put_bytes(self, name: str, data: bytes) -> None:
        self._call(lambda: self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data), name)

    def get(self, name: str, destination: Path) -> None:
        self._call(lambda: self.client.download_file(self.bucket, self._key(name), str(destination)), name)

    def get_bytes(self, name: str) -> bytes:
        answer = self._call(lambda: self.client.get_object(Bucket=self.bucket, Key=self._key(name)), name)
        return bytes(answer["Body"].read())

    def list(self) -> list[StoredObject]:
        def pages() -> list[StoredObject]:
            out = []
            paginator = self.client.get_paginator("list_objects_v2")
            start = f"{self.prefix}/" if self.prefix else ""
            for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
                for item in page.get("Contents", []):
                    name = item["Key"][len(start) :]
                    if name and "/" not in name:
                        out.append(StoredObject(name, int(item["Size"]), item["LastModified"].astimezone(UTC)))
            return sorted(out, key=lambda o: o.name)

        found: list[StoredObject] = self._call(pages, "the listing")
        return found

    def delete(self, name: str) -> None:
        self._call(lambda: self.client.delete_object(Bucket=self.bucket, Key=self._key(name)), name)

    def _call(self, call: Callable[[], Any], what: str) -> Any:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            raise StoreError(f"{self.url}: {what}: {_explain(code, self.bucket)}") from exc
        except S3UploadFailedError as exc:
            raise StoreError(
                f"{self.url}: {what}: upload failed ({_explain(_code_in(str(exc)), self.bucket)})"
            ) from exc
        except (BotoCoreError, OSError) as exc:
            raise StoreError(f"{self.url}: {what}: {exc}") from exc


def _code_in(text: str) -> str:
    for code in ("NoSuchBucket", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
        if code in text:
            return code
    return text[:200]


def _explain(code: str, bucket: str) -> str:
    return {
        "NoSuchBucket": f"the bucket {bucket!r} does not exist (create it, or check backup.offsite)",
        "InvalidAccessKeyId": "the access key is not known there (check backup.s3_access_key)",
        "SignatureDoesNotMatch": "the secret key does not match the access key (check backup.s3_secret_key)",
        "AccessDenied": "access denied (the key may not write to this bucket)",
        "NoSuchKey": "no such object",
        "404": "no such object",
        "403": "access denied (the key may not read this bucket)",
    }.get(code, code or "refused")


def _client(access: S3Access) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=access.endpoint,
        region_name=access.region,
        aws_access_key_id=access.access_key,
        aws_secret_access_key=access.secret_key,
        config=Config(
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            s3={"addressing_style": "path"} if access.endpoint else None,
        ),
    )


def access_of(section: Any) -> S3Access:
    """The S3 access of the configuration's ``[backup]`` section."""

    def secret(value: Any) -> str | None:
        return None if value is None else str(value.get_secret_value())

    return S3Access(
        section.s3_endpoint, section.s3_region, secret(section.s3_access_key), secret(section.s3_secret_key)
    )


def split_backup_url(url: str) -> tuple[str, str]:
    """A backup's URL as (its target's URL, its name): ``s3://bucket/prefix/NAME``, ``file:///folder/NAME`` or a
    path (``C:\\Backups\\NAME`` on Windows)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "s3" or parts.scheme == "file":
        where, _, name = url.rstrip("/").rpartition("/")
        return where, name
    path = Path(url).expanduser()
    return str(path.parent), path.name


def open_target(url: str, access: S3Access, client: Any = None) -> Target:
    """``s3://bucket/prefix``, ``file:///folder`` or a plain folder path."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ConfigError(f"{url!r}: an S3 target is s3://bucket/prefix")
        return S3Target(parts.netloc, parts.path, access, client)
    if parts.scheme == "file":  # file:///C:/Backups on Windows, file:///mnt/share elsewhere
        return FolderTarget(Path(urllib.request.url2pathname(parts.path)))
    if parts.scheme and len(parts.scheme) > 1:  # a Windows drive letter ("C:") is a path, not a scheme
        raise ConfigError(f"{url!r}: a backup target is a folder, file:///folder or s3://bucket/prefix")
    return FolderTarget(Path(url).expanduser())
