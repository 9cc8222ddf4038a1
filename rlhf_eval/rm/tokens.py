"""Job tokens for `serve-rm`: `rmt1.<job>.<expires>.<signature>`, an HMAC-SHA256 over the job name
and expiry time under a signing key only the server and whoever mints tokens know.

OpenRLHF's client sends no headers, so a token rides in the reward URL, and OpenRLHF logs that
URL. A job token bounds what a leaked log gives away: it names one job (the server can be told
to accept that job only) and stops working at its expiry. Tokens are URL-safe.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import time

from rlhf_eval.errors import UserError

PREFIX = "rmt1"
JOB = re.compile(r"[A-Za-z0-9_-]{1,64}")
# One spelling per expiry: ASCII digits, no leading zero, at most 12 (past the year 33,000).
EXPIRES = re.compile(r"[1-9][0-9]{0,11}")
MAX_TTL_S = 366 * 86400  # a job token is for one job, not for ever


class TokenError(UserError):
    pass


def _sign(key: str, job: str, expires: int) -> str:
    return hmac.new(key.encode(), f"{PREFIX}.{job}.{expires}".encode(), hashlib.sha256).hexdigest()


def mint(key: str, job: str, ttl_s: float, now: float | None = None) -> str:
    if not JOB.fullmatch(job):
        raise TokenError(f"job name {job!r}: use 1-64 letters, digits, _ or -")
    if not 1 <= ttl_s <= MAX_TTL_S:  # (nan fails both)
        raise TokenError(f"ttl must be 1 s to 366 days, got {ttl_s:g} s")
    expires = int((time.time() if now is None else now) + ttl_s)
    return f"{PREFIX}.{job}.{expires}.{_sign(key, job, expires)}"


def check(token: str, key: str, job: str | None = None, now: float | None = None) -> str | None:
    """None when `token` is a valid job token (for `job`, when given); else the reason it is not."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != PREFIX:
        return "not a job token"
    _, name, expires, sig = parts
    # The signature first, over the text as sent: nothing else in a token is read before it holds.
    expected = hmac.new(key.encode(), f"{PREFIX}.{name}.{expires}".encode("utf-8", "replace"), hashlib.sha256)
    if not hmac.compare_digest(sig.encode("utf-8", "replace"), expected.hexdigest().encode()):
        return "bad signature"
    if not EXPIRES.fullmatch(expires) or not JOB.fullmatch(name):
        return "not a job token"
    if (time.time() if now is None else now) >= int(expires):
        return f"token for job '{name}' expired at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(int(expires)))}"
    if job is not None and name != job:
        return f"token is for job '{name}', this server accepts job '{job}' only"
    return None


def parse_duration(text: str) -> float:
    """'90s', '30m', '12h', '2d' or plain seconds."""
    m = re.fullmatch(r"\s*([0-9]{1,9}(?:\.[0-9]{1,9})?)\s*([smhd]?)\s*", text, re.ASCII)
    if not m:
        raise TokenError(f"duration {text!r}: use e.g. 90s, 30m, 12h or 2d")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
