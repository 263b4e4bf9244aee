"""The rate limiter's token buckets shared by the worker processes of one `vakstem serve`.

Without sharing, every worker counts for itself and a client gets the limit once per worker.
`vakstem serve --workers N` therefore creates an anonymous in-memory file (Linux `memfd`) before
it starts the workers and hands them its `/proc/<pid>/fd/<n>` path in the environment; each
worker maps it and counts in the same table, under an exclusive `flock`.

Privacy is the same as in one process: the table holds the door, a keyed hash of the client
address and the bucket, never an address, and the random key lives in the same memory. The
file exists only in RAM, has no name in any file system and is gone when the server and its
workers end, also when they are killed. Replacing the key (every `rotate_seconds`) empties the
table. Where there is no memfd (not Linux), `create_shared_table` gives None and each worker
keeps counting for itself.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import secrets
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

#: Environment variable through which `vakstem serve` hands the table to its workers.
TABLE_ENV = "VAKSTEM_RATE_LIMIT_TABLE"
#: Buckets in the table (40 bytes each). More clients than this at once: the least recently
#: seen of a crowded neighbourhood is forgotten, which only ever lets a request through.
DEFAULT_SLOTS = 65_536
#: Slots looked at for one client before the least recently seen of them is replaced.
PROBES = 16

_MAGIC = b"vkrate01"
#: magic, hash key, monotonic time the key was drawn
_HEADER = struct.Struct("<8s32sd")
#: door (padded), keyed hash of the client address, tokens left, monotonic time of last use
_SLOT = struct.Struct("<8s16sdd")
_EMPTY_DOOR = bytes(8)


def create_shared_table(slots: int = DEFAULT_SLOTS) -> str | None:
    """A new, empty table for this process and the workers it will start: the path they open
    it by, or None where the system has no anonymous memory files.

    The file descriptor stays open for the life of this process on purpose: the table lives as
    long as the server does.
    """
    if sys.platform != "linux" or not hasattr(os, "memfd_create"):
        return None
    fd = os.memfd_create("vakstem-rate-limits", os.MFD_CLOEXEC)
    os.ftruncate(fd, _HEADER.size + slots * _SLOT.size)  # zero-filled: no key yet, all empty
    return f"/proc/{os.getpid()}/fd/{fd}"


@dataclass(frozen=True)
class Bucket:
    door: str
    client: bytes
    tokens: float
    last: float


class SharedTable:
    """One process's mapping of the shared table. Callers hold `locked()` around every use
    (and a thread lock of their own: `flock` does not exclude threads sharing a descriptor)."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        size = os.fstat(self._fd).st_size
        self.slots = (size - _HEADER.size) // _SLOT.size
        if self.slots < 1:
            os.close(self._fd)
            raise ValueError(f"{path} is not a rate-limit table")
        self._map = mmap.mmap(self._fd, size)

    @contextmanager
    def locked(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def key(self, now: float, rotate_seconds: float) -> bytes:
        """The current hash key; a new one (and an empty table) when there is none yet or it
        is `rotate_seconds` old."""
        magic, key, since = _HEADER.unpack_from(self._map, 0)
        if magic == _MAGIC and 0 <= now - since < rotate_seconds:
            return bytes(key)
        key = secrets.token_bytes(32)
        self._map[_HEADER.size :] = bytes(len(self._map) - _HEADER.size)
        _HEADER.pack_into(self._map, 0, _MAGIC, key, now)
        return key

    def find(self, door: str, client: bytes) -> tuple[int, Bucket | None]:
        """The slot of the client's bucket at this door, or the slot to put a new one in."""
        tag = _door_tag(door)
        start = int.from_bytes(client[:8], "little") % self.slots
        oldest, oldest_last = start, float("inf")
        for step in range(min(PROBES, self.slots)):
            index = (start + step) % self.slots
            slot_door, slot_client, tokens, last = _SLOT.unpack_from(self._map, _offset(index))
            if slot_door == _EMPTY_DOOR:
                # Slots are never emptied one by one, so the bucket is not further along.
                return index, None
            if slot_door == tag and slot_client == client:
                return index, Bucket(door, bytes(slot_client), tokens, last)
            if last < oldest_last:
                oldest, oldest_last = index, last
        return oldest, None

    def put(self, index: int, bucket: Bucket) -> None:
        _SLOT.pack_into(
            self._map,
            _offset(index),
            _door_tag(bucket.door),
            bucket.client,
            bucket.tokens,
            bucket.last,
        )

    def buckets(self) -> list[Bucket]:
        out = []
        for index in range(self.slots):
            door, client, tokens, last = _SLOT.unpack_from(self._map, _offset(index))
            if door != _EMPTY_DOOR:
                name = door.rstrip(b"\0").decode(errors="replace")
                out.append(Bucket(name, bytes(client), tokens, last))
        return out


def _door_tag(door: str) -> bytes:
    """The door's name in 8 bytes: itself when it fits, else a hash of it (never empty)."""
    tag = door.encode()
    if 0 < len(tag) <= 8 and b"\0" not in tag:
        return tag.ljust(8, b"\0")
    return hashlib.blake2b(tag, digest_size=8, person=b"vakstem-door").digest()


def _offset(index: int) -> int:
    return _HEADER.size + index * _SLOT.size
