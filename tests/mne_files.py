"""Writers of EEG files in formats that MNE reads but neither MNE nor ``mne.export`` writes.

- EGI MFF: mffpy's own ``Writer`` (a pinned dependency).
- ANT Neuro CNT: ``libEep.so`` shipped in the antio wheel, through ctypes (antio's Python
  binding has no call to add recording info or triggers; a file without recording info
  crashes libeep when MNE asks for the birth date, so real eego files always carry it).
- Neuroscan CNT, NEDF, Curry 8: no writer exists in any package here. These build the files
  from the layouts that MNE's readers parse (``mne/io/cnt/_utils.py``: the 900-byte SETUP
  header, 75-byte electrode records, the TEEG event table; ``mne/io/nedf/nedf.py``: a
  10240-byte XML header and 5-sample blocks of 24-bit big-endian samples; the Curry 8
  ``.cdt`` float32 samples with their ``.cdt.dpa`` header and ``.cdt.cef`` events as read
  by curryreader). They test that neurodag hands MNE's read through unchanged, not that
  the layouts are complete.
"""

from __future__ import annotations

import ctypes
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np


def write_mff(path: Path, data_uv: np.ndarray, sfreq: int, events: list[tuple[float, str]],
              start: datetime) -> Path:
    """An EGI MFF folder (HydroCel 256: 257 channels) with an event track."""
    from mffpy import Writer
    from mffpy.bin_writer import BinWriter

    binfile = BinWriter(sampling_rate=int(sfreq), data_type="EEG")
    binfile.add_block(np.ascontiguousarray(data_uv, dtype=np.float32))
    writer = Writer(str(path))
    writer.addxml("fileInfo", recordTime=start)
    writer.add_coordinates_and_sensor_layout("HydroCel GSN 256 1.0")
    writer.addbin(binfile)
    writer.addxml("eventTrack", filename="Events_neurodag.xml", name="neurodag", trackType="EVNT",
                  events=[{"beginTime": start + timedelta(seconds=t), "duration": 0,
                           "code": code, "label": code} for t, code in events])
    writer.write()
    return path


def _libeep():
    import antio.libeep

    lib = ctypes.CDLL(str(Path(antio.libeep.__file__).parent / "libEep.so"))
    lib.libeep_add_samples.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_int]
    lib.libeep_add_trigger.argtypes = [ctypes.c_int, ctypes.c_uint64, ctypes.c_char_p]
    lib.libeep_set_start_time.argtypes = [ctypes.c_int, ctypes.c_int64]
    lib.libeep_set_patient_sex.argtypes = [ctypes.c_int, ctypes.c_char]
    lib.libeep_init()
    return lib


def write_ant_cnt(path: Path, data_uv: np.ndarray, names: list[str], sfreq: int,
                  triggers: list[tuple[int, str]], start: datetime) -> Path:
    """An ANT Neuro (eego) CNT through libeep: samples in µV, triggers at sample indices."""
    lib = _libeep()
    info = lib.libeep_create_channel_info()
    for name in names:
        lib.libeep_add_channel(info, name.encode(), b"ref", b"uV")
    rec = lib.libeep_create_recinfo()
    lib.libeep_set_start_time(rec, int(start.timestamp()))
    lib.libeep_set_date_of_birth(rec, 1990, 1, 2)
    lib.libeep_set_patient_sex(rec, b"F")
    handle = lib.libeep_write_cnt(str(path).encode(), int(sfreq), info, 0)
    samples = np.ascontiguousarray(data_uv, dtype=np.float32)
    lib.libeep_add_samples(handle, samples.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                           samples.shape[0])
    for sample, code in triggers:
        lib.libeep_add_trigger(handle, sample, code.encode())
    lib.libeep_add_recording_info(handle, rec)
    lib.libeep_close(handle)
    lib.libeep_close_channel_info(info)
    return path


def write_neuroscan_cnt(path: Path, counts: np.ndarray, names: list[str], sfreq: int,
                        events: list[tuple[int, int]], header_samples: int | None = None) -> Path:
    """A Neuroscan CNT of int16 ``counts`` (samples, channels), 1 µV per count.

    ``events`` are (sample, stim type); ``header_samples`` is what the header claims
    (default: the true count; 0 reproduces files whose header says 0 samples).
    """
    n, n_ch = counts.shape
    head = bytearray(900)
    head[0:12] = b"Version 3.0\0"
    head[225:235] = b"06/07/21\0\0"
    head[235:247] = b"08:09:10\0\0\0\0"
    struct.pack_into("<H", head, 370, n_ch)
    struct.pack_into("<H", head, 376, int(sfreq))
    struct.pack_into("<i", head, 864, n if header_samples is None else header_samples)
    data_start = 900 + 75 * n_ch
    event_table = data_start + 2 * n * n_ch
    struct.pack_into("<i", head, 886, event_table)
    struct.pack_into("<f", head, 890, n / sfreq)
    struct.pack_into("<i", head, 894, 0)  # channel offset: samples interleaved one by one
    electrodes = bytearray(75 * n_ch)
    angles = np.linspace(0.2, np.pi - 0.2, n_ch)
    for i, name in enumerate(names):
        assert len(name) <= 4  # byte 4 of the name is the old header's "bad" flag
        rec = 75 * i
        electrodes[rec:rec + len(name)] = name.encode()
        struct.pack_into("<ff", electrodes, rec + 19, np.cos(angles[i]), np.sin(angles[i]))
        struct.pack_into("<f", electrodes, rec + 59, 204.8)  # sensitivity
        struct.pack_into("<f", electrodes, rec + 71, 1.0)  # calibration: 1 µV per count
    table = b"".join(
        # event type 2; offset is the byte position of the sample after the event's own
        struct.pack("<HBclhhfccc", stim, 0, b"\0", data_start + (sample + 1) * 2 * n_ch,
                    0, 0, 0.0, b"\0", b"\0", b"\0")
        for sample, stim in events)
    with open(path, "wb") as fh:
        fh.write(head + electrodes)
        fh.write(np.ascontiguousarray(counts, dtype="<i2").tobytes())
        fh.write(struct.pack("<Bll", 2, len(table), 0) + table)
    return path


def write_nedf(path: Path, counts: np.ndarray, names: list[str], sfreq: int,
               triggers: np.ndarray, start_ms: int) -> Path:
    """A NeuroElectrics NEDF 1.4 file: 24-bit ``counts`` (samples, channels), a trigger per
    sample, and three accelerometer channels (one reading per 5-sample block)."""
    n, n_ch = counts.shape
    montage = "".join(f"<C{i}>{name}</C{i}>" for i, name in enumerate(names))
    xml = (f"<Neuroelectrics><NEDFversion>1.4</NEDFversion>"
           f"<NumberOfChannelsOfAccelerometer>3</NumberOfChannelsOfAccelerometer>"
           f"<EEGSettings><TotalNumberOfChannels>{n_ch}</TotalNumberOfChannels>"
           f"<EEGSamplingRate>{sfreq}</EEGSamplingRate><EEGMontage>{montage}</EEGMontage>"
           f"<NumberOfRecordsOfEEG>{n}</NumberOfRecordsOfEEG></EEGSettings>"
           f"<StepDetails><StartDate_firstEEGTimestamp>{start_ms}</StartDate_firstEEGTimestamp>"
           f"</StepDetails></Neuroelectrics>").encode()
    u24 = np.asarray(counts, np.int64) & 0xFFFFFF
    triplets = np.stack([(u24 >> 16) & 0xFF, (u24 >> 8) & 0xFF, u24 & 0xFF], -1).astype(np.uint8)

    def blocks(lo: int, hi: int, per: int):
        sample = np.dtype([("eeg", "B", (n_ch, 3)), ("trig", ">i4")])
        dt = np.dtype([("acc", ">u2", (3,)), ("data", sample, (per,))])
        out = np.zeros((hi - lo) // per, dt)
        out["acc"] = 512
        out["data"]["eeg"] = triplets[lo:hi].reshape(-1, per, n_ch, 3)
        out["data"]["trig"] = np.asarray(triggers[lo:hi]).reshape(-1, per)
        return out.tobytes()

    full = n // 5 * 5
    with open(path, "wb") as fh:
        fh.write(xml + b"\0" * (10240 - len(xml)))
        fh.write(blocks(0, full, 5))
        if n > full:
            fh.write(blocks(full, n, n - full))
    return path


def write_curry8(path: Path, data_uv: np.ndarray, names: list[str], sfreq: float,
                 events: list[tuple[int, int, str]], start: datetime) -> Path:
    """A Curry 8 recording: ``path`` (.cdt float32 samples), ``.cdt.dpa`` and ``.cdt.cef``.

    ``events`` are (sample, type, label).
    """
    n, n_ch = data_uv.shape
    np.ascontiguousarray(data_uv, dtype="<f4").tofile(path)
    angles = np.linspace(0.2, np.pi - 0.2, n_ch)
    sensors = [f"{80 * np.cos(a):.3f} {80 * np.sin(a):.3f} 40.000" for a in angles]
    header = [
        "FileVersion = 804", f"NumSamples = {n}", f"NumChannels = {n_ch}", "NumTrials = 1",
        f"SampleFreqHz = {sfreq:g}", "TriggerOffsetUsec = 0", "DataFormat = FLOAT",
        "DataSampOrder = SAMPLE", f"SampleTimeUsec = {1e6 / sfreq:g}",
        "DataByteOrder = LITTLE_ENDIAN", f"StartYear = {start.year}",
        f"StartMonth = {start.month}", f"StartDay = {start.day}", f"StartHour = {start.hour}",
        f"StartMin = {start.minute}", f"StartSec = {start.second}", "StartMillisec = 0",
        "AmplifierInfo = neurodag test",
        "DEVICE_PARAMETERS START", "DataUnit = uV", f"NumChanThisGroup = {n_ch}",
        "DEVICE_PARAMETERS END",
        "LABELS START", "LABELS END", "LABELS START_LIST", *names, "LABELS END_LIST",
        "SENSORS START", "SENSORS END", "SENSORS START_LIST", *sensors, "SENSORS END_LIST",
    ]
    Path(f"{path}.dpa").write_text("\n".join(header) + "\n")
    rows = [f"{s} 0 {t} 0 {s} {s} 0 0 0 0 0" for s, t, _ in events]
    cef = ["NUMBER_LIST START_LIST", *rows, "NUMBER_LIST END_LIST",
           "REMARK_LIST START_LIST", *[label for *_, label in events], "REMARK_LIST END_LIST"]
    Path(f"{path}.cef").write_text("\n".join(cef) + "\n")
    return path


START = datetime(2021, 6, 7, 8, 9, 10, tzinfo=UTC)
F32 = 2.0**-23  # relative precision of float32 rounding (with margin)


def assert_samples_equal(got: np.ndarray, want: np.ndarray) -> None:
    """neurodag's samples against MNE's: bit for bit when stored as float64, else to the
    rounding of float32 (neurodag's storage type for formats of at most 24-bit samples)."""
    assert got.shape == want.shape
    if got.dtype == np.float64:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=F32, atol=0)
