"""Resume codes: short, typeable secrets that let a respondent continue on any device.

Ten characters of Crockford's base32 (no I, L, O or U, so nothing is misread) carry 50 random
bits, shown as `K7QM-3XHD-9P`. Only the SHA-256 of the normalised code is stored: the code in
clear exists in the respondent's hands and in the one response that created it.
"""

from __future__ import annotations

import hashlib
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 10
#: What people type for characters the alphabet leaves out (Crockford's decoding rules).
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_GROUPS = (4, 4, 2)


def new_code() -> str:
    """A fresh random code, normalised (no dashes)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def from_bytes(seed: bytes) -> str:
    """A code taken from the first 50 bits of `seed` (random or a cryptographic hash)."""
    if len(seed) < 7:
        raise ValueError("a code needs at least 50 bits of seed")
    bits = int.from_bytes(seed[:7], "big") >> 6
    return "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in reversed(range(LENGTH)))


def normalise(code: str) -> str | None:
    """The canonical form of a typed code (case, spaces, dashes and look-alikes ignored), or
    None when it cannot be a code at all."""
    cleaned = "".join(code.split()).replace("-", "").upper().translate(_LOOKALIKES)
    if len(cleaned) != LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def display(code: str) -> str:
    """`K7QM3XHD9P` -> `K7QM-3XHD-9P`."""
    parts, start = [], 0
    for size in _GROUPS:
        parts.append(code[start : start + size])
        start += size
    return "-".join(parts)


def code_hash(normalised_code: str) -> str:
    return hashlib.sha256(normalised_code.encode("ascii")).hexdigest()
