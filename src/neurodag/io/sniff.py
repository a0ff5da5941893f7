"""Cheap checks of a file's own bytes before a library parses it.

Libraries given a broken file either fail deep inside with a message about the symptom
(``could not convert string to float: ' '``) or, worse, read what is there and carry on:
MNE reads a truncated EDF by inferring the number of records from the file size, which
silently drops the missing part. :func:`check_recording` looks at the first bytes and the
header fields that fix the file's size, and raises one line that names the file and the
problem:

- the content does not match the extension (a text file named ``.fif``, an EDF renamed
  ``.vhdr``): the message says what the file looks like instead;
- EDF/BDF: a header whose channel count disagrees with its own header length (a header
  that lies), unreadable numeric fields, and a data part shorter than the header's number
  of records needs (truncated);
- BrainVision: the data or marker file named in the header is missing, or the binary
  data file is truncated (not a whole number of samples, fewer than ``DataPoints``, or
  shorter than the last marker's position);
- FIF: a tag that runs past the end of the file (truncated);
- EGI simple binary (``.raw``): a file shorter than its header's sample count needs.

Nothing here reads samples; each check costs at most a few kB of reading.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from ._common import full_suffix

#: First bytes of formats we can recognise, for "it looks like ..." in messages.
_MAGIC = (
    (b"0       ", "an EDF file"),
    (b"\xffBIOSEMI", "a BDF file"),
    (b"\x00\x00\x00\x64\x00\x00\x00\x1f", "a FIF file"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"PK\x03\x04", "a zip archive"),
)
_FIF_MAGIC = b"\x00\x00\x00\x64"  # tag kind 100 (FIFF_FILE_ID), big-endian
_BV_HEADER = re.compile(rb"^\s*(\xef\xbb\xbf)?brain ?vision", re.I)


def describe(head: bytes) -> str:
    """What a file looks like from its first bytes ("an EDF file", "text 'abc'", ...)."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "a NIfTI image"
    if not head:
        return "nothing (0 bytes)"
    try:
        text = head[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if first and all(c.isprintable() for c in first):
        return f"text {first[:40]!r}"
    return "binary data"


def _head(path: Path, n: int = 4096) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None


def check_recording(path: Path) -> None:
    """Raise one-line :class:`InputError` if ``path`` is not what its extension says.

    Only files of the formats listed in the module docstring are checked; others pass.
    """
    if not path.is_file():
        return
    suffix = full_suffix(path)
    if suffix in (".edf", ".bdf"):
        check_edf(path)
    elif suffix == ".fif":
        head = _head(path, 16)
        if not head.startswith(_FIF_MAGIC):
            raise InputError(f"{path}: not a FIF file (it holds {describe(_head(path))})")
        check_fif_tags(path)
    elif suffix == ".fif.gz":
        head = _head(path, 2)
        if not head.startswith(b"\x1f\x8b"):
            raise InputError(f"{path}: not a gzip-compressed FIF file "
                             f"(it holds {describe(_head(path))})")
    elif suffix in (".vhdr", ".ahdr"):
        check_brainvision(path)
    elif suffix == ".raw":
        check_egi(path)


# ---------------------------------------------------------------------------- FIF


def check_fif_tags(path: Path) -> None:
    """Every tag of a FIF file must end inside the file.

    A FIF file is a chain of tags, each a 16-byte header (kind, type, size, next) and
    ``size`` bytes; ``next`` is 0 for the following tag, -1 at the end, else the position
    of the next one (as MNE walks them). A file cut inside its measurement info makes MNE
    say only "Could not find measurement info". Only the headers are read.
    """
    size = path.stat().st_size
    pos = 0
    with open(path, "rb") as fh:
        while 0 <= pos < size:
            fh.seek(pos)
            head = fh.read(16)
            if len(head) < 16:
                raise InputError(f"{path}: truncated FIF file: a tag header at byte {pos} is "
                                 f"cut short (the file has {size} bytes)")
            n, nxt = int.from_bytes(head[8:12], "big", signed=True), \
                int.from_bytes(head[12:16], "big", signed=True)
            end = pos + 16 + n
            if n < 0 or end > size:
                raise InputError(f"{path}: truncated FIF file: a tag at byte {pos} needs {end} "
                                 f"bytes but the file has {size} bytes")
            if nxt == -1:
                return
            if nxt > 0 and nxt + 16 > size:
                raise InputError(f"{path}: truncated FIF file: a tag at byte {pos} points to "
                                 f"the next one at byte {nxt} but the file has {size} bytes")
            if 0 < nxt <= pos:
                return  # a chain that turns back: MNE's reader says what is wrong
            pos = end if nxt == 0 else nxt


# ---------------------------------------------------------------------------- EGI


def check_egi(path: Path) -> None:
    """An unsegmented EGI simple binary file must hold the samples its header counts.

    The header (big-endian: version, date, rate, channels, gain, bits, range, samples,
    events, 4-byte event codes) fixes the size: MNE reads a shorter file only to fail
    reshaping it. Versions 2, 4, 6 are unsegmented int16, float32, float64 samples; other
    files are left to MNE.
    """
    head = _head(path, 36)
    if len(head) < 36:
        return
    version, n_channels = int.from_bytes(head[:4], "big"), int.from_bytes(head[22:24], "big")
    if version not in (2, 4, 6):
        return
    n_samples = int.from_bytes(head[30:34], "big")
    n_events = int.from_bytes(head[34:36], "big")
    width = {2: 2, 4: 4, 6: 8}[version]
    want = 36 + 4 * n_events + n_samples * (n_channels + n_events) * width
    size = path.stat().st_size
    if size < want:
        raise InputError(f"{path}: truncated EGI file: the header says {n_samples} samples of "
                         f"{n_channels} channels and {n_events} event tracks ({want} bytes) but "
                         f"the file has {size} bytes")


# ---------------------------------------------------------------------------- EDF / BDF


def _field(raw: bytes, path: Path, what: str) -> str:
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise InputError(f"{path}: EDF header field '{what}' is not ASCII text") from None


def _int_field(raw: bytes, path: Path, what: str) -> int:
    text = _field(raw, path, what)
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"{path}: EDF header field '{what}' is {text!r}, "
                             "not a number") from None
        if value != int(value):
            raise InputError(f"{path}: EDF header field '{what}' is {text!r}, "
                             "not a whole number") from None
        return int(value)


def check_edf(path: Path) -> None:
    """Check an EDF/BDF header against itself and the file size (no samples are read)."""
    size = path.stat().st_size
    head = _head(path, 256)
    bdf = path.suffix.lower() == ".bdf"
    magic = b"\xffBIOSEMI" if bdf else b"0       "
    kind = "BDF" if bdf else "EDF"
    if not head.startswith(magic):
        raise InputError(f"{path}: not an {kind} file (it holds {describe(_head(path))})")
    if len(head) < 256:
        raise InputError(f"{path}: truncated {kind} header ({size} bytes; the fixed part "
                         "alone is 256)")
    header_bytes = _int_field(head[184:192], path, "number of bytes in header")
    n_records = _int_field(head[236:244], path, "number of data records")
    n_signals = _int_field(head[252:256], path, "number of signals")
    if n_signals < 1:
        raise InputError(f"{path}: {kind} header says {n_signals} signals")
    if header_bytes != 256 * (n_signals + 1):
        fits = header_bytes // 256 - 1
        raise InputError(
            f"{path}: {kind} header is inconsistent: it says {n_signals} signals but its "
            f"header length ({header_bytes} bytes) holds {fits}; the header lies about its "
            "channel count or is corrupt"
        )
    if size < header_bytes:
        raise InputError(f"{path}: truncated {kind} header ({size} of {header_bytes} bytes)")
    with open(path, "rb") as fh:
        fh.seek(256 + n_signals * 216)  # label 16, transducer 80, unit 8, 4 x 8 ranges, filter 80
        spr_raw = fh.read(8 * n_signals)
    samples = [_int_field(spr_raw[8 * i: 8 * i + 8], path, f"samples per record (signal {i + 1})")
               for i in range(n_signals)]
    if any(s < 1 for s in samples):
        raise InputError(f"{path}: {kind} header gives a signal with {min(samples)} samples "
                         "per record")
    record_bytes = sum(samples) * (3 if bdf else 2)
    if n_records == -1:  # allowed by the format: count unknown, taken from the file size
        return
    if n_records < 1:
        raise InputError(f"{path}: {kind} header says {n_records} data records")
    want = header_bytes + n_records * record_bytes
    if size < want:
        have = (size - header_bytes) // record_bytes
        raise InputError(
            f"{path}: truncated {kind} file: the header says {n_records} data records "
            f"({want} bytes) but the file has {size} bytes ({have} complete records)"
        )


# ---------------------------------------------------------------------------- BrainVision


def brainvision_header(path: Path) -> dict[str, dict[str, str]]:
    """A BrainVision header's ``key=value`` lines by lower-cased section name."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    out: dict[str, dict[str, str]] = {}
    section = out.setdefault("", {})
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = out.setdefault(line.lower(), {})
        elif "=" in line and not line.startswith(";"):
            key, _, value = line.partition("=")
            section[key.strip()] = value.strip()
    return out


def brainvision_parts(path: Path) -> dict[str, Path]:
    """The data and marker files a BrainVision header names (``DataFile``, ``MarkerFile``)."""
    common = brainvision_header(path).get("[common infos]", {})
    return {key: path.parent / common[key] for key in ("DataFile", "MarkerFile")
            if common.get(key)}


def check_brainvision(path: Path) -> None:
    """A BrainVision header must be text, and the files it names must exist."""
    head = _head(path)
    if not _BV_HEADER.match(head):
        raise InputError(f"{path}: not a BrainVision header (it holds {describe(head)})")
    for key, target in brainvision_parts(path).items():
        if not target.is_file():
            what = "data" if key == "DataFile" else "marker"
            raise InputError(f"{path}: its {what} file {target.name!r} ({key}= in the "
                             "header) is missing")
        if key == "DataFile" and target.stat().st_size == 0:
            raise InputError(f"{path}: its data file {target.name!r} is empty (0 bytes)")
    _check_brainvision_size(path)


#: Bytes per sample of BrainVision's binary formats.
_BV_BYTES = {"INT_16": 2, "UINT_16": 2, "INT_32": 4, "IEEE_FLOAT_32": 4}


def _check_brainvision_size(path: Path) -> None:
    """A binary data file must hold whole samples, and reach the last marker.

    The header states no sample count (``DataPoints`` is optional), so MNE takes it from
    the file size: a truncated ``.eeg`` is read short and the markers after its end are
    dropped with a warning. Cut inside a sample, the size is not a multiple of a sample's
    bytes; cut at a sample boundary, markers lie after the end.
    """
    header = brainvision_header(path)
    common, binary = header.get("[common infos]", {}), header.get("[binary infos]", {})
    parts = brainvision_parts(path)
    if common.get("DataFormat", "BINARY").upper() != "BINARY" or "DataFile" not in parts:
        return
    try:
        n_channels = int(common["NumberOfChannels"])
        width = _BV_BYTES[binary.get("BinaryFormat", "INT_16").upper()]
    except (KeyError, ValueError):
        return  # MNE's own parser says what is wrong with the header
    data = parts["DataFile"]
    frame = n_channels * width
    size = data.stat().st_size
    if size % frame:
        raise InputError(f"{data}: truncated BrainVision data: {size} bytes is not a whole "
                         f"number of samples ({n_channels} channels x {width} bytes = "
                         f"{frame} bytes each; {path.name})")
    n_samples = size // frame
    stated = common.get("DataPoints", "")
    if stated.isdigit() and int(stated) > n_samples:
        raise InputError(f"{data}: truncated BrainVision data: {path.name} says {stated} "
                         f"samples (DataPoints=), the file holds {n_samples} samples")
    marker = parts.get("MarkerFile")
    if marker is None or not marker.is_file():
        return
    last = 0
    for key, value in brainvision_header(marker).get("[marker infos]", {}).items():
        fields = value.split(",")
        if key.startswith("Mk") and len(fields) > 2 and fields[2].strip().isdigit():
            last = max(last, int(fields[2]))
    if last > n_samples:
        raise InputError(f"{data}: truncated BrainVision data: it holds {n_samples} samples "
                         f"but {marker.name} has markers up to sample {last}")
