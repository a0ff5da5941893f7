"""Sort input paths into one primary recording and its sidecars.

Rules, in order:

- A directory is expanded to its files (not recursively), ignoring hidden files,
  ``truth.nc`` and ``*.partial``; directories that are recordings themselves
  (``*.zarr``, EGI ``*.mff``, CTF ``*.ds``, MEF3 ``*.mefd``, a folder of Neuralynx
  ``.ncs`` files, a 4D/BTi folder) are kept whole.
- Sidecars are recognised by name: ``*electrodes.tsv``, ``*coordsystem.json``,
  ``*events.tsv``, ``*channels.tsv``, ``*confounds*.tsv``, ``*names.txt``/``*names.csv``,
  and EEGLAB channel-location files ``*.locs``/``*.loc``/``*.eloc`` (the montage).
  BIDS ``participants.tsv`` and ``*_scans.tsv`` are passed over (the metadata of a
  recording in a BIDS tree is read from the tree, :mod:`neurodag.metadata.bids`).
- A NIfTI image with more than one volume is a recording; a 3-D image is a brain mask
  when its name says ``mask``, else a label image.
- FreeSurfer ``.mgz``/``.mgh`` and GIFTI ``.gii`` surface series, CaImAn ``.hdf5``/``.h5``
  results and suite2p plane folders (holding ``F.npy`` and ``ops.npy``) are recordings.
  Two surface files that differ only in their hemisphere (``lh``/``rh`` or
  ``hemi-L``/``hemi-R``) are one recording: the left one, with the right one as the
  ``other_hemisphere`` sidecar.
- Continuation parts of split FIF files (``-1.fif``, ``_split-02``) are read with the
  first part and never count as recordings of their own when the first part is given.
- With a NIfTI recording, remaining tables (``.tsv``, ``.csv``, ``.txt``, ``.lut``) are
  label tables; otherwise ``.csv``/``.tsv``/``.npy`` are recordings (calcium, spikes).
- BrainVision ``.eeg``/``.vmrk``, EEGLAB ``.fdt``, Nicolet ``.head``, Curry 7 ``.dap``/``.rs3``
  (beside their ``.dat``), Persyst ``.dat`` (beside its ``.lay``) and other companion
  files are left to the reader that opens the header.
- When only files are given, sidecars missing from the inputs are looked up next to the
  recording: a sidecar named as the recording (``runA.locs`` beside ``runA.set``) first,
  then BIDS sidecars whose entities (``sub-``, ``ses-``, ``task-``, ...) all match the
  recording's, and sidecars without entities when the folder holds one recording only.

A file given explicitly with an unknown extension is an error; one found by expanding
a directory is ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib

from ..errors import InputError
from ._common import bids_entities, check_file, full_suffix, one_line, stem

#: Extensions opened through ``mne.io.read_raw`` (or the matching MNE reader).
MNE_EXTENSIONS = frozenset({
    ".fif", ".fif.gz", ".edf", ".bdf", ".gdf", ".vhdr", ".ahdr", ".set", ".cnt", ".mff",
    ".nxe", ".data", ".sqd", ".con", ".ds", ".cdt", ".dap", ".dat", ".rs3", ".nedf", ".lay",
    ".mefd", ".raw", ".eeg", ".bin", ".mat", ".ns1", ".ns2", ".ns3", ".ns4", ".ns5", ".ns6",
})
NIFTI_EXTENSIONS = frozenset({".nii", ".nii.gz"})
SURFACE_EXTENSIONS = frozenset({".mgz", ".mgh", ".gii"})
HDF5_EXTENSIONS = frozenset({".hdf5", ".h5"})
TABLE_EXTENSIONS = frozenset({".csv", ".tsv", ".npy"})
LUT_EXTENSIONS = frozenset({".txt", ".lut"})
#: Files read together with a header file, or that carry nothing a reader uses.
COMPANION_EXTENSIONS = frozenset({
    ".vmrk", ".amrk", ".fdt", ".head", ".21e", ".pnt", ".log", ".mrk", ".elp", ".hsp",
    ".dpa", ".cef", ".json", ".md", ".txt", ".lut", ".nc", ".png", ".html", ".bidsignore",
})
RECORDING_DIRS = frozenset({".zarr", ".mff", ".ds", ".mefd"})
#: BIDS metadata tables (with ``*_scans.tsv``): not recordings, never sidecar roles.
BIDS_METADATA = frozenset({"participants.tsv", "participants.json"})

SIDECAR_ROLES = (
    "electrodes", "coordsystem", "events", "channels", "labels_img", "labels_tsv",
    "confounds", "names", "mask", "other_hemisphere", "montage",
)
#: EEGLAB channel-location files (polar coordinates), read by mne.channels.read_custom_montage.
MONTAGE_EXTENSIONS = frozenset({".locs", ".loc", ".eloc"})
#: Roles filled only from the inputs, never from the recording's neighbours.
_EXPLICIT_ONLY = frozenset({"other_hemisphere"})
_MASK_WORDS = re.compile(r"(?i)mask")
_HEMI = re.compile(r"(?:(?<=^)|(?<=[._-]))(lh|rh)(?=[._-])|(?<=hemi-)([LR])(?=[._])")
#: Entities that describe a sidecar's own space or variant, not which recording it belongs to.
_LOOSE_ENTITIES = frozenset({"space", "desc", "atlas", "seg", "res", "den", "label"})
_LABEL_WORDS = re.compile(r"(?i)dseg|atlas|label|parc")
#: Continuation parts of split FIF files (MNE ``-1.fif``, BIDS ``_split-02``), read with part 1.
_FIF_PART = re.compile(r"(?i)(-[1-9]\d*\.fif(\.gz)?$)|(_split-0*[2-9]\d*_|_split-0*1\d+_)")


def hemisphere(path: Path) -> str | None:
    """"lh" or "rh" from a surface file's name (``lh.``, ``.rh.``, ``hemi-L``), else None."""
    found = {m.group(1) or {"L": "lh", "R": "rh"}[m.group(2)] for m in _HEMI.finditer(path.name)}
    return found.pop() if len(found) == 1 else None


def hemisphere_pair(paths: list[Path]) -> tuple[Path, Path] | None:
    """(left, right) when two surface files differ only in their hemisphere, else None."""
    if len(paths) != 2 or any(full_suffix(p) not in SURFACE_EXTENSIONS for p in paths):
        return None
    hemis = [hemisphere(p) for p in paths]
    if sorted(h for h in hemis if h) != ["lh", "rh"]:
        return None
    left, right = paths if hemis[0] == "lh" else paths[::-1]

    def neutral(p: Path) -> str:
        return _HEMI.sub("*", p.name)

    if neutral(left) != neutral(right) or left.parent.resolve() != right.parent.resolve():
        return None
    return left, right


def _ignored(path: Path) -> bool:
    name = path.name
    return name.startswith(".") or name == "truth.nc" or name.endswith(".partial")


def is_suite2p_dir(path: Path) -> bool:
    """A suite2p plane folder: ``F.npy`` and ``ops.npy`` side by side."""
    return path.is_dir() and (path / "F.npy").is_file() and (path / "ops.npy").is_file()


def is_mne_dir(path: Path) -> bool:
    """A folder that MNE reads as one recording though its name says nothing: Neuralynx
    ``.ncs`` files, or a 4D/BTi ``config`` with its ``c,rf*`` data file."""
    from .mne_readers import is_recording_dir

    return is_recording_dir(path)


def _is_recording_dir(path: Path) -> bool:
    return path.suffix.lower() in RECORDING_DIRS or (path / "zarr.json").exists() or (
        path / ".zgroup"
    ).exists() or is_suite2p_dir(path) or is_mne_dir(path)


def _listed(path: Path) -> bool:
    """A folder's entry worth sorting: not hidden or partial, and a plain subfolder
    (outputs, derivatives) only when it is a recording itself."""
    return not _ignored(path) and (not path.is_dir() or _is_recording_dir(path))


def _expand(paths) -> tuple[list[tuple[Path, bool]], bool]:
    """Files to classify as ``(path, explicit)``, and whether any directory was expanded."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("no input paths given")
    out: list[tuple[Path, bool]] = []
    expanded = False
    for p in paths:
        check_file(p)
        if p.is_dir() and not _is_recording_dir(p):
            expanded = True
            out += [(child, False) for child in sorted(p.iterdir()) if _listed(child)]
        else:
            out.append((p, True))
    return out, expanded


def _sidecar_role(path: Path) -> str | None:
    name = path.name.lower()
    suffix = full_suffix(path)
    if name.endswith("electrodes.tsv"):
        return "electrodes"
    if name.endswith("coordsystem.json"):
        return "coordsystem"
    if name.endswith("events.tsv"):
        return "events"
    if name.endswith("channels.tsv"):
        return "channels"
    if "confounds" in name and suffix in (".tsv", ".csv"):
        return "confounds"
    if stem(path).lower().endswith("names") and suffix in (".txt", ".csv"):
        return "names"
    if suffix in MONTAGE_EXTENSIONS:
        return "montage"
    return None


def _nifti_volumes(path: Path, strict: bool) -> int | None:
    """Number of volumes of a NIfTI image (1 for 3-D), None if unreadable and not strict."""
    try:
        shape = nib.load(path).shape
    except Exception as e:  # nibabel raises several types for broken headers
        if strict:
            raise InputError(f"{path}: not a readable NIfTI image ({one_line(e)})") from None
        return None
    if len(shape) == 3 or (len(shape) == 4 and shape[3] == 1):
        return 1
    if len(shape) == 4:
        return int(shape[3])
    if strict:
        raise InputError(f"{path}: expected a 3-D label image or a 4-D BOLD series, got shape {shape}")
    return None


def _has_vhdr(path: Path) -> bool:
    return any(path.with_suffix(s).exists() for s in (".vhdr", ".ahdr", ".VHDR"))


#: Parts of a recording read through another file of the same stem: {part: (header, ...)}.
_PARTS = {".dap": (".dat",), ".rs3": (".dat",), ".dat": (".lay",)}


def _is_part(path: Path, suffix: str) -> bool:
    return any(path.with_suffix(s).exists() for s in _PARTS.get(suffix, ()))


def _sort(files: list[tuple[Path, bool]], strict: bool) -> dict[str, list[Path]]:
    """Candidates per role: ``recording``, ``table``, ``lut`` and :data:`SIDECAR_ROLES`."""
    found: dict[str, list[Path]] = {r: [] for r in ("recording", "table", "lut", *SIDECAR_ROLES)}
    for path, explicit in files:
        suffix = full_suffix(path)
        role = _sidecar_role(path)
        if role is not None:
            found[role].append(path)
        elif path.name in BIDS_METADATA or path.name.endswith("_scans.tsv"):
            continue  # read from the recording's BIDS tree by neurodag.metadata.bids
        elif path.is_dir():
            found["recording"].append(path)
        elif suffix in NIFTI_EXTENSIONS:
            n = _nifti_volumes(path, strict)
            if n is not None and n > 1:
                found["recording"].append(path)
            elif n is not None:
                found["mask" if _MASK_WORDS.search(path.name) else "labels_img"].append(path)
        elif suffix in SURFACE_EXTENSIONS or suffix in HDF5_EXTENSIONS:
            found["recording"].append(path)
        elif suffix == ".eeg" and _has_vhdr(path):
            continue  # BrainVision binary, read through its .vhdr
        elif not explicit and _is_part(path, suffix):
            continue  # Curry 7 header/labels beside their .dat, Persyst data beside its .lay
        elif suffix in (".fif", ".fif.gz") and not explicit and _FIF_PART.search(path.name):
            continue
        elif suffix in MNE_EXTENSIONS or suffix == ".nwb":
            found["recording"].append(path)
        elif suffix in TABLE_EXTENSIONS:
            found["table"].append(path)
        elif suffix in LUT_EXTENSIONS:
            found["lut"].append(path)
        elif suffix in COMPANION_EXTENSIONS:
            continue
        elif explicit and strict:
            raise InputError(
                f"{path}: unknown file type {suffix or '(no extension)'!r}; expected a recording "
                "readable by MNE, NIfTI, CSV/TSV/NPY table, NWB or zarr store"
            )
    if any(full_suffix(r) in NIFTI_EXTENSIONS for r in found["recording"]):
        found["labels_tsv"] = found.pop("table") + found.pop("lut")
    else:
        found["recording"] += found.pop("table")
        found.pop("lut")
    return found


def _one(paths: list[Path], what: str) -> Path | None:
    if len(paths) > 1:
        names = ", ".join(str(p) for p in paths[:4])
        raise InputError(f"{names}: several {what} found; pass only one")
    return paths[0] if paths else None


def _pick_label_table(tables: list[Path], labels_img: Path | None) -> Path | None:
    if labels_img is not None:
        same = [t for t in tables if stem(t) == stem(labels_img)]
        if len(same) == 1:
            return same[0]
    return _one(tables, "label tables")


def _belongs(sidecar: Path, recording: Path, single: bool) -> int:
    """How well a neighbouring sidecar matches the recording (0: it does not)."""
    if stem(sidecar) == stem(recording):
        return 100  # named after the recording (runA.locs beside runA.set): its own
    side = {k: v for k, v in bids_entities(sidecar).items() if k not in _LOOSE_ENTITIES}
    if not side:
        return 1 if single else 0
    rec = bids_entities(recording)
    return 1 + len(side) if all(rec.get(k) == v for k, v in side.items()) else 0


def _neighbours(recording: Path, out: dict) -> None:
    """Fill missing sidecar roles of ``out`` from the recording's folder."""
    folder = recording.parent
    files = [(p, False) for p in sorted(folder.iterdir()) if _listed(p)]
    found = _sort(files, strict=False)
    single = len(found["recording"]) <= 1
    for role in SIDECAR_ROLES:
        if out[role] is not None or role in _EXPLICIT_ONLY:
            continue
        candidates = found[role]
        if role == "labels_img":  # not masks or reference images lying next to the BOLD
            candidates = [p for p in candidates if _LABEL_WORDS.search(p.name)]
        scored = [(s, p) for p in candidates if (s := _belongs(p, recording, single)) > 0]
        if not scored:
            continue
        best = max(s for s, _ in scored)
        top = [p for s, p in scored if s == best]
        if role == "labels_tsv":
            out[role] = _pick_label_table(top, out["labels_img"])
        else:
            out[role] = _one(top, f"{role} sidecars matching {recording.name}")


def classify(paths) -> dict:
    """Classify input paths into one primary recording and its sidecars.

    Parameters
    ----------
    paths : path-like or sequence of path-like
        Files and/or directories (see the module docstring for the rules).

    Returns
    -------
    dict
        ``recording`` (Path) and, each a Path or None, ``electrodes``, ``coordsystem``,
        ``events``, ``channels``, ``labels_img``, ``labels_tsv``, ``confounds``, ``names``,
        ``mask`` (a brain mask for option ``voxels``), ``montage`` (EEGLAB channel
        locations), ``other_hemisphere`` (the right
        hemisphere of a surface pair; only from the inputs, never looked up).
        Every file that the reader will use is listed, so callers can hash them all.

    Raises
    ------
    InputError
        One line: a path is missing or empty, an explicit file has an unknown type, no
        recording or several candidate recordings (or sidecars of one kind) are found.
    """
    files, expanded = _expand(paths)
    found = _sort(files, strict=True)
    recs = found["recording"]
    if len(recs) > 1:  # split FIF parts named next to their first part
        recs = [r for r in recs if not _FIF_PART.search(r.name)] or recs
    other = None
    if len(recs) == 2 and (pair := hemisphere_pair(recs)) is not None:
        recs, other = [pair[0]], pair[1]
    if not recs:
        where = ", ".join(str(p) for p, _ in files[:4]) or ", ".join(str(p) for p in paths)
        raise InputError(f"{where}: no recording found (expected EEG/MEG/iEEG, 4-D NIfTI, table, "
                         "NWB or zarr)")
    if len(recs) > 1:
        raise InputError(f"{recs[0]}, {recs[1]}: two candidate recordings; pass one recording "
                         "(with its sidecars) per call")
    out: dict = {"recording": recs[0]}
    found["other_hemisphere"] = [other] if other is not None else []
    for role in SIDECAR_ROLES:
        if role == "labels_tsv":
            out[role] = _pick_label_table(found[role], _one(found["labels_img"], "label images"))
        else:
            out[role] = _one(found[role], f"{role} files")
    if not expanded:
        _neighbours(out["recording"], out)
    for path in out.values():
        if path is not None:
            check_file(path)
    return out
