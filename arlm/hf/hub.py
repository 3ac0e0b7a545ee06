"""Where a Hugging Face checkpoint is read from: a local folder, or ``hf:NAME[@REVISION]`` found in
the local Hugging Face cache.

``hf:NAME`` goes through ``huggingface_hub.snapshot_download(..., local_files_only=True)``: the
folder of a model downloaded earlier (``hf download NAME``, or any ``from_pretrained`` on a machine
with network) under ``$HF_HUB_CACHE`` (default ``~/.cache/huggingface/hub``). Nothing is ever
downloaded at run time: a name missing from the cache is an error saying so.
"""

from __future__ import annotations

from pathlib import Path

from arlm.errors import ConfigError, NotFoundError

HF_PREFIX = "hf:"


def is_hub_spec(source: str) -> bool:
    return str(source).startswith(HF_PREFIX)


def resolve_source(source: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The local folder ``source`` names: a folder path as is, ``hf:NAME[@REVISION]`` through the
    local Hub cache (``cache_dir`` overrides ``$HF_HUB_CACHE``)."""
    text = str(source)
    if not is_hub_spec(text):
        path = Path(text).expanduser()
        if not path.exists():
            raise NotFoundError(f"{path}: no such folder (give a local Hugging Face model folder or hf:NAME)")
        if not path.is_dir():
            raise ConfigError(f"{path}: not a folder (give a local Hugging Face model folder or hf:NAME)")
        return path.resolve()
    name, _, revision = text[len(HF_PREFIX) :].partition("@")
    if not name or name.count("/") > 1:
        raise ConfigError(f"{text!r}: expected hf:NAME or hf:OWNER/NAME, optionally @REVISION")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    where = cache_dir or constants.HF_HUB_CACHE
    try:
        folder = snapshot_download(name, revision=revision or None, cache_dir=cache_dir, local_files_only=True)
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NotFoundError(
            f"{text}: not in the local Hugging Face cache {where} ({first}); arlm never "
            "downloads at run time: fetch it on a machine with network (`hf download "
            f"{name}`) or pass a local folder"
        ) from None
    return Path(folder)
