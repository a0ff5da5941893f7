"""Which MNE reader opens a recording, and the keyword arguments it is given.

``mne.io.read_raw`` picks a reader from the extension, but that is not enough to pass
reader options on: some extensions belong to two formats (``.cnt``: Neuroscan or ANT
Neuro; ``.dat``: Curry 7, BCI2000 or the data part of a Persyst recording; ``.bin``:
Artemis123 or FIL OPM; ``.eeg``: Nihon Kohden or BrainVision's binary part), and it tries
each in turn with the same keywords. Some formats are folders (EGI ``.mff``, CTF ``.ds``,
MEF3 ``.mefd``, a Neuralynx folder of ``.ncs`` files, a 4D/BTi folder with ``config``),
and some readers are not in its table at all (EGI ``.raw``, Nicolet, BTi, Neuralynx,
Blackrock ``.ns1``-``.ns6`` besides ``.ns3``).

:func:`choose` names the one ``mne.io.read_raw_*`` function for a path from its extension,
its neighbours and (for ``.cnt`` and ``.dat``) its first bytes; :func:`check_options`
checks user options (``ingest: {reader: {...}}``, ``--set reader.KEY=VALUE``) against that
function's signature; :func:`opener` is the picklable call that opens the file lazily.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from ..errors import ConfigError, InputError, check_known, one_line
from ._common import full_suffix
from .sniff import _head

#: ``mne.io`` reader per extension, for extensions that name one format.
BY_SUFFIX = {
    ".fif": "read_raw_fif", ".fif.gz": "read_raw_fif",
    ".edf": "read_raw_edf", ".bdf": "read_raw_bdf", ".gdf": "read_raw_gdf",
    ".vhdr": "read_raw_brainvision", ".ahdr": "read_raw_brainvision",
    ".set": "read_raw_eeglab",
    ".mff": "read_raw_egi", ".raw": "read_raw_egi",
    ".nxe": "read_raw_eximia",
    ".data": "read_raw_nicolet",
    ".sqd": "read_raw_kit", ".con": "read_raw_kit",
    ".ds": "read_raw_ctf",
    ".cdt": "read_raw_curry", ".dap": "read_raw_curry", ".rs3": "read_raw_curry",
    ".nedf": "read_raw_nedf",
    ".lay": "read_raw_persyst",
    ".mefd": "read_raw_mef",
    ".mat": "read_raw_fieldtrip",
    **{f".ns{i}": "read_raw_nsx" for i in range(1, 7)},
}
#: Extensions whose format :func:`choose` tells apart by content or neighbours.
SNIFFED = frozenset({".cnt", ".dat", ".bin", ".eeg"})
#: Keywords neurodag sets itself: the file, lazy reading, MNE's log level.
_RESERVED = frozenset({"preload", "verbose"})


@dataclass(frozen=True)
class Choice:
    """The reader for one recording: ``mne.io.<name>(fname, **defaults, **options)``.

    ``name`` is ``"read_raw"`` when the format cannot be told apart (``mne.io.read_raw``
    then tries its candidates in turn, which takes no reader options).
    """

    name: str
    fname: Path
    defaults: dict = field(default_factory=dict)

    @property
    def qualname(self) -> str:
        return f"mne.io.{self.name}"

    def function(self):
        import mne

        return getattr(mne.io, self.name)


def _sibling(path: Path, suffix: str) -> Path | None:
    """The same-stem file with another extension (either case), if it exists."""
    for s in (suffix, suffix.upper()):
        other = path.with_suffix(s)
        if other.exists():
            return other
    return None


def _bti_pdf(folder: Path) -> Path | None:
    """A 4D/BTi folder: ``config`` beside a processed-data file named ``c,rf...``."""
    if not (folder / "config").is_file():
        return None
    pdfs = sorted(p for p in folder.iterdir() if p.is_file() and p.name.startswith("c,rf"))
    return pdfs[0] if pdfs else None


def is_recording_dir(path: Path) -> bool:
    """A folder that is one MNE recording without a telling extension (Neuralynx, BTi)."""
    return path.is_dir() and (any(path.glob("*.ncs")) or _bti_pdf(path) is not None)


def choose(path: Path, modality: str | None = None) -> Choice:
    """The MNE reader for ``path`` (a file, or a recording folder).

    Parameters
    ----------
    path : Path
        The recording: a header or data file, or a folder (``.mff``, ``.ds``, ``.mefd``,
        a folder of Neuralynx ``.ncs`` files, a 4D/BTi folder).
    modality : str, optional
        Nicolet files store no channel types: "seeg"/"ecog" becomes their ``ch_type``.

    Raises
    ------
    InputError
        One line naming ``path``: no MNE reader for it, or it is a part of a recording
        that is opened through another file.
    """
    path = Path(path)
    suffix = full_suffix(path)
    if path.is_dir() and suffix not in BY_SUFFIX:
        if any(path.glob("*.ncs")):
            return Choice("read_raw_neuralynx", path)
        pdf = _bti_pdf(path)
        if pdf is not None:
            hs = path / "hs_file"
            return Choice("read_raw_bti", pdf, {"config_fname": str(path / "config"),
                                                "head_shape_fname": str(hs) if hs.is_file()
                                                else None})
        raise InputError(f"{path}: not a recording folder MNE reads (.mff, .ds, .mefd, "
                         "Neuralynx .ncs files, 4D/BTi config + c,rf* file)")
    if suffix == ".data":
        ch_type = modality if modality in ("seeg", "ecog") else "eeg"
        return Choice("read_raw_nicolet", path, {"ch_type": ch_type})
    if suffix == ".mat":
        return Choice("read_raw_fieldtrip", path, {"info": None})
    if suffix in BY_SUFFIX:
        return Choice(BY_SUFFIX[suffix], path)
    if suffix == ".cnt":
        riff = _head(path, 4) in (b"RIFF", b"RF64")  # ANT's libeep container
        return Choice("read_raw_ant" if riff else "read_raw_cnt", path)
    if suffix == ".dat":
        lay = _sibling(path, ".lay")
        if lay is not None:
            return Choice("read_raw_persyst", lay)
        if _head(path, 10) == b"HeaderLen=":
            return Choice("read_raw_bci2k", path)
        return Choice("read_raw_curry", path)
    if suffix == ".eeg":
        vhdr = _sibling(path, ".vhdr") or _sibling(path, ".ahdr")
        if vhdr is not None:
            raise InputError(f"{path}: the binary part of a BrainVision recording; give its "
                             f"header {vhdr.name}")
        return Choice("read_raw_nihon", path)
    if suffix == ".bin":
        if _sibling(path, ".txt") is not None:
            return Choice("read_raw_artemis123", path)
        if _sibling(path, ".json") is not None:
            return Choice("read_raw_fil", path)
        return Choice("read_raw", path)
    raise InputError(f"{path}: no MNE reader for {suffix or 'files without extension'!r}")


def allowed_options(choice: Choice) -> list[str] | None:
    """The keywords a user may give ``choice``'s reader (None: any, it takes ``**kwargs``)."""
    params = list(inspect.signature(choice.function()).parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params[1:]
            if p.kind is not p.VAR_POSITIONAL and p.name not in _RESERVED]


def check_options(choice: Choice, options: dict, where: str) -> None:
    """One-line :class:`ConfigError` for an option ``choice``'s reader does not take.

    The message names ``where`` (a config key or the file), the unknown keyword, the
    closest one the reader takes and the reader itself.
    """
    if not options:
        return
    if choice.name == "read_raw":
        raise ConfigError(f"{where}: cannot tell which MNE reader opens {choice.fname.name} "
                          f"(mne.io.read_raw would try several), so reader options "
                          f"{sorted(options)} cannot be checked; rename the file or drop them")
    allowed = allowed_options(choice)
    if allowed is not None:
        check_known(f"{where} (keywords of {choice.qualname})", options, allowed)


def opener(path: Path, modality: str | None = None, options: dict | None = None):
    """A picklable callable that opens ``path`` lazily with its reader and ``options``."""
    choice = choose(path, modality)
    options = dict(options or {})
    check_options(choice, options, f"{path}: reader")
    func = choice.function()
    params = inspect.signature(func).parameters
    fixed = {k: v for k, v in (("preload", False), ("verbose", "warning")) if k in params}
    return partial(func, choice.fname, **fixed, **{**choice.defaults, **options})



_ERROR_LINE = re.compile(r"^\s*([A-Za-z_.]*(?:Error|Exception)): (.+)$", re.M)


def explain(failure: BaseException, path: Path, modality: str | None = None) -> str:
    """A reader's failure on one line, naming the reader option its message asks for.

    Some readers wrap the real error in a traceback of their own (``read_raw_cnt``): the
    last ``SomeError: message`` line is the reason. When the message names a keyword of
    the reader as something to set ("set data_format manually", "pass data_format='int16'"),
    say how to pass it.
    """
    found = _ERROR_LINE.findall(str(failure))
    if found:
        name, message = found[-1]
        text = f"{name}: {' '.join(message.split())}"[:200]
    else:
        text = one_line(failure)
    try:
        allowed = allowed_options(choose(path, modality)) or []
    except InputError:
        allowed = []
    asked = [k for k in allowed if re.search(
        rf"(?:set|pass|use|specify)\s+['\"`]?{re.escape(k)}\b|\b{re.escape(k)}\s*=",
        str(failure))]
    if asked:
        text += (f"; give reader option {asked[0]!r} (config: ingest: {{reader: {{{asked[0]}: "
                 f"...}}}}; CLI: --set reader.{asked[0]}=...)")
    return text
