"""Errors a user can cause. The command line turns each into one message and exit status 2."""


class UserError(Exception):
    """Something the user can fix: a bad file, a missing model, a device that is not there.

    The message names what and where, and says what to do.
    """


class GuideError(UserError):
    """A guide file that cannot be used."""


class ModelNotFound(UserError):
    """No Whisper model at the name or path the user gave."""


class ImportFormatError(UserError):
    """A transcript to import that is malformed; nothing was stored."""
