"""HMAC-SHA256 request signatures (PROTOCOL.md, "Authentication")."""

from __future__ import annotations

import hashlib
import hmac
import re

from edgespec_gpu.errors import ServiceError

MAX_CLOCK_SKEW_S = 300
TIMESTAMP_HEADER = "x-edgespec-timestamp"
SIGNATURE_HEADER = "x-edgespec-signature"
# At most 15 ASCII digits. str.isdigit() also accepts digits such as "²" that int() rejects, and
# a 400-digit value overflows the float comparison with the clock.
TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,15}")


def sign(secret: bytes, timestamp: str, method: str, path: str, body: bytes) -> str:
    """Return the `v1=` signature of a request."""
    message = f"{timestamp}\n{method.upper()}\n{path}\n".encode() + body
    return "v1=" + hmac.new(secret, message, hashlib.sha256).hexdigest()


def check_signature(
    secret: bytes, timestamp: str | None, signature: str | None, method: str, path: str, body: bytes, now: float
) -> None:
    """Raise ServiceError 401 unless the signature is valid and the timestamp is fresh."""
    if not timestamp or not signature:
        raise ServiceError(401, "missing_signature", "missing X-EdgeSpec-Timestamp or X-EdgeSpec-Signature header")
    if TIMESTAMP_PATTERN.fullmatch(timestamp) is None:
        raise ServiceError(401, "invalid_signature", f"X-EdgeSpec-Timestamp must be whole Unix seconds, got {timestamp!r}")
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW_S:
        raise ServiceError(
            401, "stale_timestamp", f"timestamp {timestamp} is more than {MAX_CLOCK_SKEW_S} s from the service clock"
        )
    expected = sign(secret, timestamp, method, path, body)
    if not hmac.compare_digest(expected, signature):
        raise ServiceError(401, "invalid_signature", "signature does not match the request")
