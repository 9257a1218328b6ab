"""Client-side encryption of backup files: AES-256-GCM over 1 MiB chunks, so a large database is never held in
memory whole.

Layout: ``MAGIC`` (6 bytes), a 7-byte random nonce prefix, then the chunks, each ``[4-byte big-endian length of
its ciphertext][ciphertext + 16-byte tag]``. A chunk's nonce is the prefix, its 4-byte index and a final-chunk
flag; the header is its associated data. So a chunk cannot be altered, moved, dropped or the file cut short
without decryption failing (the last chunk must carry the final flag).

The key is 32 bytes, given as 64 hex digits or URL-safe base64 (``new_key`` makes one). Its fingerprint (the
first 16 hex digits of its SHA-256) goes into each backup's manifest, so a restore names the key it needs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import secrets
import struct
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from enigma_apex.errors import ConfigError, StoreError

MAGIC = b"EABK1\n"
PREFIX_BYTES = 7
CHUNK = 1 << 20
TAG = 16


class DecryptError(StoreError):
    """The file is not a backup this key encrypted, or it was altered or cut short."""


def new_key() -> str:
    """A fresh key, as 64 hex digits (what ``backup.key`` takes)."""
    return secrets.token_hex(32)


def parse_key(text: str) -> bytes:
    """32 bytes from 64 hex digits or URL-safe base64; anything else is a configuration error."""
    value = text.strip()
    try:
        raw = bytes.fromhex(value) if len(value) == 64 else base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != 32:
        raise ConfigError("backup.key must be 32 bytes: 64 hex digits or base64 (enigma-apex db backup-key makes one)")
    return raw


def key_of(section: Any) -> bytes | None:
    """The configuration's ``[backup]`` key (32 bytes), or None when backups are stored in clear."""
    if not section.encrypt or section.key is None:
        return None
    return parse_key(section.key.get_secret_value())


def fingerprint(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + struct.pack(">I", index) + (b"\x01" if final else b"\x00")


def encrypt_file(source: Path, target: Path, key: bytes) -> None:
    aes = AESGCM(key)
    prefix = os.urandom(PREFIX_BYTES)
    header = MAGIC + prefix
    with source.open("rb") as src, target.open("wb") as out:
        out.write(header)
        index = 0
        chunk = src.read(CHUNK)
        while True:
            following = src.read(CHUNK)
            final = not following
            sealed = aes.encrypt(_nonce(prefix, index, final), chunk, header)
            out.write(struct.pack(">I", len(sealed)) + sealed)
            if final:
                break
            chunk, index = following, index + 1


def decrypt_file(source: Path, target: Path, key: bytes) -> None:
    aes = AESGCM(key)
    with source.open("rb") as src, target.open("wb") as out:
        header = src.read(len(MAGIC) + PREFIX_BYTES)
        if len(header) != len(MAGIC) + PREFIX_BYTES or not header.startswith(MAGIC):
            raise DecryptError(f"{source.name} is not an encrypted Enigma-Apex backup")
        prefix = header[len(MAGIC) :]
        index = 0
        while True:
            sealed = _read_chunk(src, source.name)
            if sealed is None:
                raise DecryptError(f"{source.name} is cut short (no final chunk)")
            final = src.peek(1)[:1] == b""  # the last chunk is the one the file ends with
            try:
                plain = aes.decrypt(_nonce(prefix, index, final), sealed, header)
            except InvalidTag:
                why = f"{source.name}: chunk {index} does not authenticate (the wrong key, or the file was altered)"
                raise DecryptError(why) from None
            out.write(plain)
            if final:
                return
            index += 1


def _read_chunk(src: io.BufferedReader, name: str) -> bytes | None:
    head = src.read(4)
    if not head:
        return None
    if len(head) != 4:
        raise DecryptError(f"{name} is cut short")
    (size,) = struct.unpack(">I", head)
    if size < TAG or size > CHUNK + TAG:
        raise DecryptError(f"{name}: a chunk of {size} bytes cannot be one of ours (altered)")
    sealed = src.read(size)
    if len(sealed) != size:
        raise DecryptError(f"{name} is cut short")
    return sealed


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()
