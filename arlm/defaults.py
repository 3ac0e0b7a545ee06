"""Defaults shared by ``TrainConfig``, the command line and the flow parameters: the one place to
change them. Imports nothing, so the CLI can build its parsers without loading torch.

The pipeline's budget is a step count, so the same command on the same machine gives the same
model bit for bit; ``--max-seconds`` is an optional cap on top of it (a run stopped by the cap says
so: ``stopped_by: max_seconds``). ``DEFAULT_PIPELINE_STEPS`` is sized for ``DEFAULT_MODEL`` on the
embedded default corpus (see benchmarks/RESULTS.md for the measurement behind it).
"""

DEFAULT_MODEL = "gpt/tiny"
DEFAULT_PIPELINE_STEPS = 1000  # default step budget of pipeline, train and compare
# Peak learning rate of pipeline, train and compare (TrainConfig's own default, 1e-3, stays for
# library callers): with Muon on gpt/tiny, 1000 steps reach 1.657 test bits/byte at 2e-3 against
# 1.734 at 1e-3 on the embedded default (benchmarks/RESULTS.md)
DEFAULT_PIPELINE_LR = 2e-3
DEFAULT_SEED = 0  # initialisation, data order and dropout
DEFAULT_OPTIMIZER = "muon"  # measured better than AdamW on the embedded default (benchmarks/RESULTS.md)
DEFAULT_WARMUP_FRACTION = 0.05  # warm-up is at most this share of the budget (steps or seconds)
DEFAULT_CHECKPOINT_SECONDS = 60.0  # checkpoints/latest at least this often, whatever the step interval
RESUME_MODES = ("auto", "never")  # auto: continue an unfinished run of the same command; never: afresh
DEFAULT_RESUME = "auto"
