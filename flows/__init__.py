"""Prefect flows: thin wiring of ``arlm.stages``. Each flow takes one typed parameter model."""
