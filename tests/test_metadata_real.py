"""Metadata of the real recordings in ../shared as a first-time user meets it: what the
archive says must be what the file (or its BIDS sidecars) states, never a placeholder."""

from __future__ import annotations

import datetime as dt

import mne
import pytest

from neurodag import io

UTC = dt.UTC


def _bids(real_data, tmp_path, name, datatype):
    """``name`` written into a BIDS tree by mne-bids (scans.tsv gets its acq_time)."""
    import mne_bids

    raw = mne.io.read_raw(real_data / name, preload=False, verbose="error")
    bp = mne_bids.BIDSPath(subject="01", session="01", task="rest", datatype=datatype,
                           root=tmp_path / "bids")
    mne_bids.write_raw_bids(raw, bp, verbose="error")
    return bp.fpath


@pytest.mark.parametrize(("name", "datatype"), [("test.sqd", "meg"), ("test.vhdr", "eeg")])
def test_bids_recording_gets_no_anonymization_placeholders(real_data, tmp_path, name,
                                                           datatype):
    # mne-bids anonymizes the info it returns when scans.tsv gives an acq_time: experimenter
    # "mne_anonymize", description "Anonymized using a time shift ...". Neither file says so.
    with io.read(_bids(real_data, tmp_path, name, datatype)) as ds:
        a = dict(ds.attrs)
    assert "experimenter" not in a, a.get("experimenter")
    assert "session_description" not in a, a.get("session_description")
    header = mne.io.read_raw(real_data / name, preload=False, verbose="error").info
    assert dt.datetime.fromisoformat(a["session_start_time"]) == header["meas_date"]
    assert a["metadata_sources"]["session_start_time"] == "BIDS scans.tsv acq_time"
