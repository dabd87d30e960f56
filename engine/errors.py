"""Errors a user can fix, reported by the command-line tools as one line instead of a traceback."""


class UserError(Exception):
    """A problem with the user's input (a flag, a file, a folder); the message says what and where."""


class SourceError(UserError):
    """One source file could not be used; batch jobs skip the file and report this reason."""
