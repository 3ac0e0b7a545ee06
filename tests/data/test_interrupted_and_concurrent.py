"""A killed ingest leaves nothing visible and the next run starts clean; two ingests at once are safe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from arlm.catalog import Catalog
from arlm.data import IngestConfig, ingest, iter_texts
from arlm.data.lake import SPLITS

# Ingests in a child process; after the first work unit is written the progress hook signals the
# test through a marker file and stalls, so the kill lands mid-ingest every time, with Parquet
# writers open and the catalog opened.
CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from arlm.catalog import Catalog
    from arlm.data import IngestConfig, ingest
    from arlm.home import get_home

    home, corpus, marker = get_home(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    def hook(p):
        if not marker.exists():
            marker.write_text(str(p["files_done"]))
            time.sleep(120)
    if __name__ == "__main__":
        cv = ingest(IngestConfig(corpus=corpus, workers=1), home, progress=hook)
        Catalog(home.catalog_path).record_corpus_version(cv)
""")


def make_corpus(folder, n_files: int = 600) -> None:
    folder.mkdir()
    for i in range(n_files):  # 600 files: 3 work units of 256 files
        (folder / f"f{i:04d}.txt").write_text(f"file {i} " + "some words of text " * 40 + "\n")


def test_killed_ingest_leaves_nothing_and_rerun_succeeds(home, tmp_path):
    corpus = tmp_path / "corpus"
    make_corpus(corpus)
    Catalog(home.catalog_path)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(home.root), str(corpus), str(marker)], stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "child never reached the first unit"
            time.sleep(0.05)
        tmp_dirs = [p for p in home.lake.iterdir() if ".tmp-" in p.name]
        assert len(tmp_dirs) == 1 and any(tmp_dirs[0].iterdir())  # mid-write: a partial version exists
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    # nothing is visible: no version folder, no catalog row
    assert [p for p in home.lake.iterdir() if ".tmp-" not in p.name] == []
    cat = Catalog(home.catalog_path)
    assert cat.rows("SELECT count(*) AS n FROM corpus_versions")[0]["n"] == 0
    # the next run removes the dead temp folder and succeeds
    cv = ingest(IngestConfig(corpus=str(corpus), workers=1), home)
    cat.record_corpus_version(cv)
    assert [p.name for p in home.lake.iterdir()] == [cv.id]
    assert sum(len(b) for s in SPLITS for b in iter_texts(cv, s)) == 600
    assert cat.rows("SELECT n_docs FROM corpus_versions")[0]["n_docs"] == 600


def test_two_ingests_at_once(home, tmp_path):
    """Two processes ingesting (the same and another corpus) and recording: both succeed."""
    a, b = tmp_path / "a", tmp_path / "b"
    make_corpus(a, 300)
    make_corpus(b, 200)
    code = textwrap.dedent("""
        import sys
        from arlm.catalog import Catalog
        from arlm.data import IngestConfig, ingest
        from arlm.home import get_home
        if __name__ == "__main__":
            home = get_home(sys.argv[1])
            for spec in sys.argv[2:]:
                cv = ingest(IngestConfig(corpus=spec, workers=1), home)
                Catalog(home.catalog_path).record_corpus_version(cv)
                print(cv.id)
    """)
    script = tmp_path / "both.py"
    script.write_text(code)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(home.root), *specs],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for specs in ([str(a), str(b)], [str(b), str(a)])
    ]
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        ids.append(out.split())
    assert ids[0] == ids[1][::-1]  # same versions, whichever process wrote them
    assert sorted(p.name for p in home.lake.iterdir()) == sorted(ids[0])
    cat = Catalog(home.catalog_path)
    assert cat.rows("SELECT count(*) AS n FROM corpus_versions")[0]["n"] == 2
    assert cat.rows("SELECT count(*) AS n FROM source_files")[0]["n"] == 500
    assert len(cat.sql("SELECT * FROM documents")) == 500
