-- version 3: where a registered model version came from when it was not trained from scratch:
-- imported from a Hugging Face checkpoint, or fine-tuned from another registered version (its base).
CREATE TABLE model_origins (
    name              VARCHAR NOT NULL,   -- models.name
    version           INTEGER NOT NULL,   -- models.version
    origin            VARCHAR NOT NULL,   -- 'import' | 'finetune'
    source            VARCHAR,            -- import: the folder or hf:NAME read; finetune: the --from given
    source_sha256     VARCHAR,            -- import: sha256 of the safetensors weights read
    base_name         VARCHAR,            -- finetune: the base model version, when registered
    base_version      INTEGER,
    method            VARCHAR,            -- finetune: 'full' | 'lora'
    details           JSON,               -- architecture, LoRA rank, trainable share, base's test figures...
    recorded_at       TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (name, version)
);
