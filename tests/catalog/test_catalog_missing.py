"""Issue 12: the catalog is created in a fresh home, but a catalog deleted beside a non-empty lake
is reported (one line naming ``arlm catalog rebuild``), never silently recreated empty."""

from __future__ import annotations

import pytest

from arlm.catalog import Catalog, CatalogMissingError
from arlm.data import IngestConfig, ingest


def _ingest_another_corpus(tmp_path, home):
    """A second corpus version in the lake (one document, no val/test split)."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.txt").write_text("another corpus, another version of the lake.\n" * 30)
    return ingest(IngestConfig(corpus=str(other), val_fraction=0, test_fraction=0), home)


def test_fresh_home_first_ingest_creates_the_catalog(home, small_text_dir):
    assert not home.catalog_path.exists()
    cv = ingest(IngestConfig(corpus=str(small_text_dir)), home)  # the lake is written first
    Catalog(home.catalog_path).record_corpus_version(cv)
    assert Catalog(home.catalog_path).rows("SELECT id FROM corpus_versions") == [{"id": cv.id}]


def test_deleted_catalog_is_reported_not_recreated(home, small_text_dir, tmp_path, capsys):
    from arlm.catalog.rebuild import rebuild_catalog
    from arlm.cli.main import main

    cv = ingest(IngestConfig(corpus=str(small_text_dir)), home)
    Catalog(home.catalog_path).record_corpus_version(cv)
    home.catalog_path.unlink()

    with pytest.raises(CatalogMissingError, match=r"catalog missing .*1 in lake/.*arlm catalog rebuild"):
        Catalog(home.catalog_path).rows("SELECT 1")
    # a second corpus ingested meanwhile does not silently start an empty catalog either
    cv2 = _ingest_another_corpus(tmp_path, home)
    with pytest.raises(CatalogMissingError):
        Catalog(home.catalog_path).record_corpus_version(cv2)
    for argv in (["catalog", "ls"], ["catalog", "sql", "SELECT 1"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "arlm catalog rebuild" in err
    assert not home.catalog_path.exists()

    report = rebuild_catalog(home, progress=lambda m: None)  # no MLflow store: the lake alone
    assert report.counts == {"corpus_versions": 2} and not report.skipped
    ids = {r["id"] for r in Catalog(home.catalog_path).rows("SELECT id FROM corpus_versions")}
    assert ids == {cv.id, cv2.id}
    n_files = Catalog(home.catalog_path).rows(
        "SELECT count(*) AS n FROM source_files WHERE corpus_version_id = ?", [cv.id]
    )[0]["n"]
    assert n_files == 12


def test_require_fails_early_and_create_rebuilds(home, small_text_dir):
    cv = ingest(IngestConfig(corpus=str(small_text_dir)), home)
    Catalog(home.catalog_path).record_corpus_version(cv)
    assert Catalog(home.catalog_path).require().schema_version() >= 2
    home.catalog_path.unlink()
    with pytest.raises(CatalogMissingError):
        Catalog(home.catalog_path).require()
    Catalog(home.catalog_path, create=True)  # what `arlm catalog rebuild` starts from
    assert Catalog(home.catalog_path).require().rows("SELECT count(*) AS n FROM corpus_versions")[0]["n"] == 0


def test_lake_left_by_an_earlier_session_is_not_a_first_ingest(home, small_text_dir, tmp_path):
    """No marker (a home from before it existed), catalog gone, lake versions from long ago:
    a new ingest must not start an empty catalog."""
    import os
    import time

    cv = ingest(IngestConfig(corpus=str(small_text_dir)), home)
    old = time.time() - 3600
    os.utime(home.lake / cv.id / "corpus.json", (old, old))
    cv2 = _ingest_another_corpus(tmp_path, home)
    with pytest.raises(CatalogMissingError):
        Catalog(home.catalog_path).record_corpus_version(cv2)
    os.utime(home.lake / cv.id / "corpus.json")  # written moments ago: two first ingests at once
    Catalog(home.catalog_path).record_corpus_version(cv2)
    assert Catalog(home.catalog_path).marker.is_file()
