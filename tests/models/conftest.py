"""Shared fixtures of the model tests."""

from training.token_fixture import single_torch_thread  # noqa: F401  (autouse fixture)
