"""HTTP(S) sources: download once into the home's cache, verify the sha256, read as a local file.

``https://host/data.txt#sha256=HEX`` pins the content: a cached copy with that hash is used
without any network access, and a download whose hash differs is an error (and is not kept).
Without a pin the URL is fetched again each time, and the version id follows its content hash.
``#column=NAME`` (``&``-joined with ``sha256``) names the text column of a .jsonl/.csv/.parquet URL.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from arlm.errors import ConfigError, DataError
from arlm.versioning import sha256_file

TIMEOUT_S = 60


def parse_url_spec(spec: str) -> tuple[str, str | None, str | None]:
    """(url without fragment, column, sha256) of a URL spec."""
    url, _, fragment = spec.partition("#")
    column = sha = None
    for part in filter(None, fragment.split("&")):
        key, _, value = part.partition("=")
        if key == "sha256":
            sha = value.lower()
            if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
                raise ConfigError(f"{spec}: sha256 must be 64 hex digits")
        elif key == "column":
            column = value
        else:
            raise ConfigError(f"{spec}: unknown URL fragment key {key!r} (expected sha256= or column=)")
    return url, column, sha


def fetch(spec: str, cache_dir: Path) -> tuple[Path, str, str | None, str]:
    """Download (or reuse) the URL; returns (local path, url, column, sha256 of the content)."""
    url, column, want = parse_url_spec(spec)
    name = Path(urllib.parse.urlparse(url).path).name or "download"
    folder = Path(cache_dir) / hashlib.sha256(url.encode()).hexdigest()[:16]
    local = folder / name
    if want and local.exists() and sha256_file(local) == want:
        return local, url, column, want
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
    h = hashlib.sha256()
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "arlm-ingest"})
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp, open(tmp, "wb") as out:
            while block := resp.read(1 << 20):
                h.update(block)
                out.write(block)
    except urllib.error.HTTPError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"{url}: cannot download ({reason})") from None
    got = h.hexdigest()
    if want and got != want:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{url}: sha256 mismatch (expected {want}, downloaded {got})")
    os.replace(tmp, local)
    return local, url, column, got
