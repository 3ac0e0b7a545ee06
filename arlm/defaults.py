"""The resume modes of a training run (``arlm train/pipeline --resume``, ``arlm.stages.train_stage``).

Training settings are declared once, as ``TrainConfig``'s fields (arlm/training/config.py); the
command line and the flow parameters are generated from them (``arlm.options``).
"""

RESUME_MODES = ("auto", "never")  # auto: continue an unfinished run of the same command; never: afresh
DEFAULT_RESUME = "auto"
# The name `arlm pipeline` registers its model under by default; `arlm generate/evaluate` default to
# that model's champion (models:/arlm-gpt@champion).
DEFAULT_MODEL_NAME = "arlm-gpt"
# The name `arlm pipeline --task translation` registers its translator under when --name is not
# given; `arlm translate` defaults to its champion (models:/arlm-translator@champion).
DEFAULT_TRANSLATION_MODEL_NAME = "arlm-translator"
