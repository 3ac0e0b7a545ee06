"""arlm: raw text to a registered, servable autoregressive language model.

`import arlm` is cheap: heavy optional parts (ray, mlflow, prefect) are imported only inside the
modules that need them, and the model / training / generation core needs torch alone.
"""

__version__ = "0.1.0"

from arlm.errors import ArlmError  # noqa: E402,F401
