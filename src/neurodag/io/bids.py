"""BIDS datasets (EEG, MEG, iEEG) through mne-bids: session discovery and reading.

Discovery (:func:`sessions`) runs when the workflow's DAG is built: it lists file names
only (``mne_bids.find_matching_paths`` and ``BIDSPath.find_matching_sidecar``, the
search ``read_raw_bids`` itself uses, so inherited sidecars are found too) and never
opens a recording.

Reading: a recording that sits in a BIDS tree (a ``sub-*`` file inside an ``eeg``,
``meg`` or ``ieeg`` folder with ``dataset_description.json`` above it) is opened with
``mne_bids.read_raw_bids`` rather than ``mne.io.read_raw``, so that what mne-bids applies
is honoured: channel types and bad channels from ``channels.tsv``, positions from
``electrodes.tsv`` + ``coordsystem.json`` (converted to metres in the coordinate frame
they name), annotations from ``events.tsv`` and the power-line frequency from the
recording's JSON sidecar. neurodag's own sidecar logic then adds what mne-bids does not
read: a ``region`` column of ``electrodes.tsv`` (see
:data:`neurodag.io.sidecars.REGION_COLUMNS`), and the metadata of ``participants.tsv``,
``*_scans.tsv`` and the JSON sidecar (:mod:`neurodag.metadata.bids`), which are listed
as inputs too.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

from ..errors import ConfigError, InputError
from ._common import one_line

DATATYPES = ("eeg", "meg", "ieeg")
#: Sidecars read with a recording: (suffix, extension).
SIDECARS = (
    ("channels", ".tsv"), ("events", ".tsv"), ("events", ".json"),
    ("electrodes", ".tsv"), ("coordsystem", ".json"),
)
_IGNORED_DIRS = ("derivatives", "sourcedata", "code", "stimuli")


def find_root(path) -> Path | None:
    """The BIDS root above a recording, or None when ``path`` is not in a BIDS tree.

    A recording is in a BIDS tree when it is ``ROOT/sub-*/[ses-*/]DATATYPE/sub-*`` with
    DATATYPE one of :data:`DATATYPES` and ``ROOT/dataset_description.json`` present.
    """
    path = Path(path)
    if not path.name.startswith("sub-") or path.parent.name not in DATATYPES:
        return None
    folder = path.parent.parent
    if folder.name.startswith("ses-"):
        folder = folder.parent
    if not folder.name.startswith("sub-"):
        return None
    root = folder.parent
    return root if (root / "dataset_description.json").is_file() else None


def bids_path(path, root: Path | None = None):
    """The ``mne_bids.BIDSPath`` of a recording file (root found when not given)."""
    import mne_bids

    path = Path(path)
    root = root or find_root(path)
    if root is None:
        raise InputError(f"{path}: not inside a BIDS dataset (no dataset_description.json "
                         "above its sub-*/[ses-*/]datatype folder)")
    try:
        bp = mne_bids.get_bids_path_from_fname(path, check=False)
    except Exception as e:  # mne-bids raises several types for names it cannot parse
        raise InputError(f"{path}: not a BIDS file name ({one_line(e)})") from None
    return bp.update(root=root, datatype=path.parent.name)


def _read_raw_bids(bp, extra_params=None):
    import mne_bids

    # a copy: mne-bids edits the dict it is given
    return mne_bids.read_raw_bids(bp, extra_params=dict(extra_params) if extra_params else None,
                                  verbose="error")


def opener(path, root: Path | None = None, extra_params: dict | None = None):
    """A picklable callable that opens ``path`` with ``mne_bids.read_raw_bids`` (lazily);
    ``extra_params`` go to the MNE reader it calls."""
    return partial(_read_raw_bids, bids_path(path, root), extra_params)


# ---------------------------------------------------------------------------- discovery


def _strip(values, prefix: str, what: str) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, (str, int)):
        values = [values]
    out = []
    for v in values:
        if not isinstance(v, (str, int)) or isinstance(v, bool) or str(v) in ("", prefix):
            raise ConfigError(f"BIDS {what}: expected labels such as '01', got {v!r}")
        out.append(str(v).removeprefix(prefix))
    return out


def _run_key(value) -> str:
    text = str(value).removeprefix("run-")
    return str(int(text)) if text.isdigit() else text


def _session_id(bp) -> str:
    return bp.copy().update(suffix=None, extension=None, split=None, check=False).basename


def _parts(bp) -> list[Path]:
    """The recording and every file of the same name with another extension (or split)."""
    fpath = Path(bp.fpath)
    base = bp.copy().update(extension=None, split=None, check=False)
    if bp.split is not None:
        pattern = re.sub(r"_split-[^_]+", "_split-*", fpath.name.split(".")[0])
    else:
        pattern = base.basename
    found = sorted(p for p in fpath.parent.glob(pattern + ".*") if p != fpath)
    return [fpath, *found]


def _files(bp) -> list[str]:
    files = _parts(bp)
    for suffix, ext in (*SIDECARS, (bp.datatype, ".json")):
        side = bp.find_matching_sidecar(suffix=suffix, extension=ext, on_error="ignore")
        if side is not None:
            files.append(Path(side))
    from ..metadata.bids import PARTICIPANTS, scans_file

    # Metadata sidecars (subject, acquisition time): see neurodag.metadata.bids.
    files += [f for f in (Path(bp.root) / PARTICIPANTS, scans_file(Path(bp.fpath))) if f.is_file()]
    return list(dict.fromkeys(str(f) for f in files))


def recording_files(path, root: Path | None = None) -> list[str]:
    """Every file read with a BIDS recording: the same list as ``files`` of :func:`sessions`."""
    return _files(bids_path(path, root))


def sessions(root, *, datatype: str, task: str | None = None, subjects=None, sessions=None,
             runs=None) -> list[dict]:
    """Recordings of a BIDS dataset, found from file names alone.

    Parameters
    ----------
    root : path-like
        The dataset folder (holding ``dataset_description.json``).
    datatype : {"eeg", "meg", "ieeg"}
    task : str, optional
        Only this task.
    subjects, sessions : sequence of str, optional
        Only these labels (with or without ``sub-``/``ses-``). The ``emptyroom``
        subject is left out unless asked for.
    runs : sequence of int or str, optional
        Only these runs (``1`` and ``"01"`` are the same run).

    Returns
    -------
    list of dict
        One per recording, sorted by id: ``id`` (the entities present, e.g.
        ``"sub-01_ses-02_task-rest_run-01"``), ``subject``, ``session`` (``"01"`` when the
        dataset has no sessions, as elsewhere in neurodag), ``task``, ``run``,
        ``datatype``, ``recording`` (the file given to the reader) and ``files``: the
        recording first, then its companion files (BrainVision ``.eeg``/``.vmrk``, split
        parts, the JSON sidecar) and the sidecars read with it (``channels.tsv``,
        ``events.tsv``/``.json``, ``electrodes.tsv``, ``coordsystem.json``), so that a
        changed sidecar changes the inputs.

    Raises
    ------
    InputError
        The root is not a BIDS dataset, or two recordings give the same id.
    ConfigError
        A bad datatype or label.
    """
    import mne_bids
    from mne_bids.config import ALLOWED_DATATYPE_EXTENSIONS

    root = Path(root)
    if datatype not in DATATYPES:
        raise ConfigError(f"BIDS datatype {datatype!r} is not one of {list(DATATYPES)}")
    if not (root / "dataset_description.json").is_file():
        raise InputError(f"{root}: not a BIDS dataset (no dataset_description.json)")
    subs = _strip(subjects, "sub-", "subjects")
    sess = _strip(sessions, "ses-", "sessions")
    wanted_runs = None if runs is None else {_run_key(r) for r in
                                             ([runs] if isinstance(runs, (str, int)) else runs)}
    extensions = [e for e in ALLOWED_DATATYPE_EXTENSIONS[datatype] if e not in (".nwb", ".pdf")]
    try:
        found = mne_bids.find_matching_paths(
            root, subjects=subs, sessions=sess, tasks=task, datatypes=datatype,
            suffixes=datatype, extensions=extensions, ignore_json=True, check=False,
        )
    except Exception as e:  # file names mne-bids cannot parse
        raise InputError(f"{root}: cannot list BIDS recordings ({one_line(e)})") from None
    out: dict[str, dict] = {}
    for bp in found:
        rel = Path(bp.fpath).relative_to(root).parts
        if any(part in _IGNORED_DIRS for part in rel[:-1]):
            continue
        if bp.subject == "emptyroom" and not (subs and "emptyroom" in subs):
            continue
        if bp.split is not None and _run_key(bp.split) != "1":
            continue  # continuation parts are read with part 1
        if wanted_runs is not None and (bp.run is None or _run_key(bp.run) not in wanted_runs):
            continue
        sid = _session_id(bp)
        if sid in out:
            raise InputError(f"{bp.fpath}, {out[sid]['recording']}: two recordings with the "
                             f"same entities ({sid}); keep one format per recording")
        out[sid] = {
            "id": sid, "subject": bp.subject, "session": bp.session or "01", "task": bp.task,
            "run": bp.run, "datatype": datatype, "recording": str(bp.fpath),
            "files": _files(bp),
        }
    return [out[k] for k in sorted(out)]
