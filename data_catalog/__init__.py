"""The catalog's schema migrations and the named corpora, shipped with arlm as package data.

This folder is installed as the package ``arlm.data_catalog`` (``[tool.setuptools.package-dir]``
in pyproject.toml), in a wheel and in an editable install alike, so its files are found through
``importlib.resources`` wherever arlm is installed, never by a path relative to a checkout.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from arlm.errors import ArlmError


def shipped_dir(name: str) -> Path:
    """The folder ``name`` (``migrations``, ``corpora``) of this package, as a path on disk.

    A wheel installed by pip and an editable install both keep it on disk; an install that
    does not (a zip archive) is refused with the location it came from.
    """
    res = files(__name__).joinpath(name)
    if not isinstance(res, Path):
        raise ArlmError(
            f"{__name__}: the shipped folder {name!r} is not on disk ({res!r}); "
            "install arlm from a wheel or a checkout, not from a zip archive"
        )
    if not res.is_dir():
        raise ArlmError(f"{res}: the shipped folder {name!r} is missing from this arlm install")
    return res
