"""One error family for everything a user can cause.

Messages name the thing (file, option, URI) and the fix; the CLI prints them on one line without a
traceback (``--debug`` shows it).
"""


class ArlmError(Exception):
    """A problem the user can fix: bad input, a missing artifact, an invalid config."""


class ConfigError(ArlmError):
    """A configuration that cannot work, rejected before any work starts."""


class DataError(ArlmError):
    """Input data that cannot be read or used (missing path, not text, corrupt file...)."""


class NotFoundError(ArlmError):
    """A named artifact, model or version that does not exist."""
