"""Shared fixtures of the training tests."""

from training.token_fixture import single_torch_thread  # noqa: F401  (autouse fixture)
