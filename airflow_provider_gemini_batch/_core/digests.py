"""Reading the Files API's ``sha256Hash`` and comparing it with a local digest. Pure.

Wire fact [LIVE]: the service reports ``sha256Hash`` as standard base64 of the 64-character
lowercase **hex** digest string, not of the raw 32-byte digest. Source: Google's cookbook notebook
``quickstarts/Batch_mode.ipynb`` (saved output of the run on 2025-09-10) uploads a 202-byte JSONL
whose sha256 is ``597b96e5…2837fc`` and shows ``sha256_hash='NTk3Yjk2…MzdmYw=='``, which decodes to
that hex string (fixture in ``tests/real_service/captures.py``).

Other Google APIs report base64 of the raw digest, and a hex string has also been seen in
third-party stand-ins; where sources disagree we accept every form and compare digests.
"""

from __future__ import annotations

import base64
import binascii
import re

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")

__all__ = ["decode_sha256_hash", "sha256_hash_matches"]


def decode_sha256_hash(reported: str) -> bytes | None:
    """The 32-byte digest a ``sha256Hash`` value stands for, or None when it is none of the forms.

    Accepted forms, tried in this order:

    * plain hex (64 hex characters);
    * base64 (standard or URL-safe, padding optional) of the hex digest string: what the real
      service sends;
    * base64 of the raw 32-byte digest.
    """
    text = reported.strip()
    if _HEX64.fullmatch(text):
        return bytes.fromhex(text)
    padded = text + "=" * (-len(text) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(padded.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            continue
        if len(raw) == 64 and _HEX64.fullmatch(raw.decode("ascii", errors="replace")):
            return bytes.fromhex(raw.decode("ascii"))
        if len(raw) == 32:
            return raw
    return None


def sha256_hash_matches(reported: str | None, digest: bytes) -> bool | None:
    """Whether the service's ``sha256Hash`` names the same bytes as the local raw ``digest``.

    :returns: True or False when the value could be read; None when it was absent or in no form
        we know (the caller decides: it is not proof of a mismatch).
    """
    if not reported:
        return None
    decoded = decode_sha256_hash(reported)
    if decoded is None:
        return None
    return decoded == digest
