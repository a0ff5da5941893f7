"""Exceptions for problems the user can fix.

Everything a user can fix (a bad file, a bad config value, data that break the
contract) is raised as :class:`InputError` or a subclass, with a one-line message that
names the file or key and the problem. The CLI prints that line and exits with code 2;
any other exception is a bug and keeps its traceback.
"""

import os


class InputError(Exception):
    """A problem with user input: a file, a value, an option."""


class ConfigError(InputError):
    """A problem with the configuration: names the key path, the value, what was expected."""


class ContractError(InputError):
    """A Dataset that does not follow the signal contract (see :mod:`neurodag.schema`)."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as ``Type: message`` on one line, cut to ``limit`` characters (for
    wrapping a library's error into one of ours)."""
    text = "".join(c if c.isprintable() else " " for c in str(exc))  # no binary junk
    text = " ".join(text.split()) or _where(exc)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}"


def _where(exc: BaseException) -> str:
    """For an exception without a message (a bare ``assert`` in a reader): the line that
    raised it, ``brainvision.py:412 in _get_hdr_info: assert ...``."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if not frames:
        return "raised without a message"
    f = frames[-1]
    return f"raised without a message at {os.path.basename(f.filename)}:{f.lineno} in " \
           f"{f.name}" + (f": {f.line.strip()}" if f.line else "")


def suggest(word: str, options) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``options`` to ``word``, else ``""``."""
    import difflib

    match = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def check_known(where: str, given, allowed) -> None:
    """Raise a one-line :class:`ConfigError` naming the first key of ``given`` that is not
    in ``allowed``, with the closest valid one: for keywords checked against a signature
    found at run time (an MNE reader's); declared options use
    :meth:`neurodag.options.Options.check`."""
    allowed = sorted(allowed)
    bad = [k for k in given if k not in allowed]
    if bad:
        takes = f"options: {', '.join(allowed)}" if allowed else "it takes no options"
        raise ConfigError(f"{where}: unknown option {bad[0]!r}{suggest(bad[0], allowed)} "
                          f"({takes})")
