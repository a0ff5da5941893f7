"""Provenance: hashes, digests and versions that let any output be traced to its inputs."""

from __future__ import annotations

import hashlib

from neurodag import provenance


def test_file_hash_is_sha256_of_the_bytes(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"neurodag" * 1000)
    assert provenance.sha256_file(f) == hashlib.sha256(b"neurodag" * 1000).hexdigest()


def test_directory_hash_changes_with_any_file(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_text("1")
    before = provenance.sha256_file(tmp_path / "d")
    (tmp_path / "d" / "x.txt").write_text("2")
    assert provenance.sha256_file(tmp_path / "d") != before


def test_config_digest_ignores_key_order():
    a = provenance.config_digest({"seed": 0, "datasets": {"x": {"modality": "eeg"}}})
    b = provenance.config_digest({"datasets": {"x": {"modality": "eeg"}}, "seed": 0})
    c = provenance.config_digest({"datasets": {"x": {"modality": "meg"}}, "seed": 0})
    assert a == b != c


def test_stamp_records_every_input_and_the_versions(small_eeg, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("a")
    b.write_text("b")
    provenance.stamp(small_eeg, [a, b], config_digest="d1")
    assert small_eeg.attrs["source"] == str(a)
    assert small_eeg.attrs["inputs"] == {str(a): provenance.sha256_file(a),
                                         str(b): provenance.sha256_file(b)}
    assert small_eeg.attrs["versions"]["xarray"]
    assert small_eeg.attrs["created"].endswith("+00:00")
