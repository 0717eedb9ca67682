"""URLs as the provider publishes them: never with the credentials a URL may carry.

A connection host may hold userinfo (``https://user:pass@gateway.example/...``, a proxy or gateway
with basic authentication) and an object-store URI may too (``s3://KEY:SECRET@bucket/key``, which
fsspec-style stores accept). Both are fine for the client that uses them and must not reach what
the provider publishes for others to read: lineage datasets, the batch's API-URL XCom, the batch
page. Every published URL goes through :func:`public_url`.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def public_url(url: str) -> str:
    """``url`` without its userinfo (``user:pass@``); anything else unchanged.

    Text that is not a URL with an authority (a local path, ``batches/x``) is returned as is.
    A value that cannot be parsed is reduced to its scheme, so nothing of it leaks.
    """
    if "@" not in url or "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return url.split("://", 1)[0] + "://"


def public_netloc(url: str) -> str:
    """The ``host[:port]`` of ``url`` without userinfo (empty when it has no authority)."""
    try:
        return urlsplit(url).netloc.rpartition("@")[2]
    except ValueError:
        return ""


def scrub_userinfo(text: str, *urls: object) -> str:
    """``text`` with the userinfo of each of ``urls`` taken out: ``user:pass@`` removed where
    the URL is quoted, and the userinfo (or its password alone) replaced with ``***`` anywhere
    else (a library's error may quote the pieces of a URL it split).

    For messages that quote a URL given by a user (a destination, an input path, the host):
    the client uses the credentials, a log line or an exception must not show them.
    """
    for value in urls:
        url = "" if value is None else str(value)
        if "@" not in url or "://" not in url:
            continue
        try:
            userinfo = urlsplit(url).netloc.rpartition("@")[0]
        except ValueError:
            userinfo = url.split("://", 1)[1].rpartition("@")[0]
        if not userinfo:
            continue
        text = text.replace(userinfo + "@", "").replace(userinfo, "***")
        password = userinfo.partition(":")[2]
        if len(password) >= 4:
            text = text.replace(password, "***")
    return text
