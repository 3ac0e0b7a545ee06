"""The read/clean step as Ray tasks when a Ray cluster is connected (a real local Ray)."""

from __future__ import annotations

import pytest

from arlm.data import IngestConfig, ingest, iter_texts
from arlm.data.lake import SPLITS

pytestmark = pytest.mark.slow


def test_ingest_runs_as_ray_tasks_and_matches_local(ray_tasks, home, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(700):  # 3 work units
        (folder / f"f{i:04d}.txt").write_text(f"file {i}: " + "words of text " * 30 + "\n")
    cv = ingest(IngestConfig(corpus=str(folder)), home)
    assert cv.stats["backend"] == "ray"
    texts = {s: [t for b in iter_texts(cv, s) for t in b] for s in SPLITS}
    assert sum(map(len, texts.values())) == 700

    # the same corpus read in-process gives the same version and the same documents, in order
    other = ingest(IngestConfig(corpus=str(folder), executor="local"), home.__class__(tmp_path / "home2"))
    assert other.id == cv.id and other.stats["backend"] != "ray"
    for s in SPLITS:
        assert [t for b in iter_texts(other, s) for t in b] == texts[s]


def test_bad_input_error_comes_back_from_a_ray_task(ray_tasks, home, tmp_path):
    from arlm.errors import DataError

    f = tmp_path / "bad.jsonl"
    f.write_text('{"text": "fine"}\nnot json\n')
    with pytest.raises(DataError, match="bad.jsonl: line 2 is not valid JSON"):
        ingest(IngestConfig(corpus=f"{f}:text"), home)
    assert list(home.lake.iterdir()) == []
