"""The base of the errors bad input causes (a file, folder or config the user can fix)."""

from __future__ import annotations


class InputError(Exception):
    """Bad input: the message names the file (or config key) and what is wrong with it.

    Commands print it as one line and exit with code 2 (``-v`` shows the traceback).
    """
