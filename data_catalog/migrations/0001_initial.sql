-- arlm catalog, version 1: every artifact of the pipeline, linked by ids (no FOREIGN KEY
-- constraints: stages may record out of order, and DuckDB forbids updating referenced rows).
-- JSON columns hold the artifacts' own config/stats/metrics dicts.

CREATE TABLE corpora (
    id          VARCHAR PRIMARY KEY,      -- content_hash(canonical spec)
    spec        VARCHAR NOT NULL,         -- 'stdlib-docs', an absolute path, a URL, 'hf:...'
    kind        VARCHAR,
    created_at  TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE corpus_versions (
    id               VARCHAR PRIMARY KEY, -- hash of source manifest + cleaning config
    corpus_id        VARCHAR NOT NULL,
    spec             VARCHAR NOT NULL,
    path             VARCHAR NOT NULL,    -- home/lake/<id>
    python_version   VARCHAR,             -- stdlib corpora: the Python whose stdlib was read
    manifest_hash    VARCHAR,
    n_docs           BIGINT,
    n_bytes          BIGINT,
    config           JSON,
    stats            JSON,
    cleaning_report  JSON,
    created_at       TIMESTAMP,
    recorded_at      TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE corpus_files (               -- the Parquet parts of a version
    corpus_version_id VARCHAR NOT NULL,
    split             VARCHAR NOT NULL,
    path              VARCHAR NOT NULL,
    PRIMARY KEY (corpus_version_id, path)
);

CREATE TABLE source_files (               -- every input of a version and what became of it
    corpus_version_id VARCHAR NOT NULL,
    uri               VARCHAR NOT NULL,
    size              BIGINT,
    mtime_ns          BIGINT,
    sha256            VARCHAR,
    n_docs            BIGINT,
    status            VARCHAR,            -- 'kept' | 'skipped'
    reason            VARCHAR,            -- why it gave no documents
    PRIMARY KEY (corpus_version_id, uri)
);

CREATE TABLE tokenizers (
    id                VARCHAR PRIMARY KEY,
    corpus_version_id VARCHAR,
    kind              VARCHAR,
    vocab_size        INTEGER,
    path              VARCHAR,
    meta              JSON,
    recorded_at       TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE token_datasets (
    id                VARCHAR PRIMARY KEY,
    tokenizer_id      VARCHAR,
    corpus_version_id VARCHAR,
    path              VARCHAR,
    meta              JSON,
    recorded_at       TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE training_runs (
    run_id            VARCHAR PRIMARY KEY,
    token_dataset_id  VARCHAR,
    model_spec        VARCHAR,
    config            JSON,
    metrics           JSON,
    mlflow_run_id     VARCHAR,
    recorded_at       TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE evaluations (
    id                VARCHAR PRIMARY KEY,
    run_id            VARCHAR,
    model_uri         VARCHAR,
    token_dataset_id  VARCHAR,
    split             VARCHAR,
    metrics           JSON,
    recorded_at       TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE models (                     -- registered MLflow model versions
    name              VARCHAR NOT NULL,
    version           INTEGER NOT NULL,
    run_id            VARCHAR,            -- training_runs.run_id
    uri               VARCHAR,            -- models:/NAME/VERSION or the artifact URI
    metrics           JSON,
    recorded_at       TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (name, version)
);

CREATE TABLE model_aliases (              -- champion / challenger, as last recorded
    name              VARCHAR NOT NULL,
    alias             VARCHAR NOT NULL,
    version           INTEGER NOT NULL,
    recorded_at       TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (name, alias)
);

-- Documents of every recorded version; rebuilt by the catalog when a version is recorded.
CREATE VIEW documents AS
SELECT NULL::VARCHAR AS corpus_version_id, NULL::VARCHAR AS doc_id, NULL::VARCHAR AS source,
       NULL::VARCHAR AS uri, NULL::VARCHAR AS text, NULL::BIGINT AS n_bytes, NULL::VARCHAR AS split
WHERE false;
