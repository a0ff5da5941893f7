"""Preprocessing QC of one session: before/after figures and the facts of ``qc.json``.

A session has QC when ``clean.zarr`` and ``qc.json`` (written by
:func:`neurodag.preprocess.run`) lie beside its ``raw.zarr``. Figures:

- power spectra of the raw and the clean signal (first minute; electrophysiology in
  display units, other modalities as each channel's share of its own power);
- a per-channel bar chart: variance removed (EEG, MEG, iEEG, fMRI), SNR (calcium) or
  firing rate (spikes), with bad channels marked and named;
- the ICA components with their labels: topographies (MNE) when the channels have
  positions, otherwise the first seconds of each component's time course.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..store import read_json
from . import style
from .collect import Session, load_window, main_types, open_session
from .figures import evenly
from .spectra import MAX_PSD_CHANNELS, PSD_MIN_SAMPLES, PSD_SECONDS, psd

CLEAN, QC = "clean.zarr", "qc.json"
EPHYS = ("eeg", "meg", "seeg", "ecog")
#: Components drawn per row of the ICA figure.
IC_COLUMNS = 5


def paths(raw_store: str | Path) -> tuple[Path, Path] | None:
    """``(clean.zarr, qc.json)`` beside ``raw_store`` when both exist, else None."""
    folder = Path(raw_store).parent
    clean, qc = folder / CLEAN, folder / QC
    return (clean, qc) if clean.exists() and qc.is_file() else None


def read_qc(path: Path) -> dict:
    return read_json(path, "qc.json")


def facts(qc: dict) -> list[tuple[str, str]]:
    """(name, text) rows summarising what preprocessing did, for the page."""
    rows = []
    if "line_freq" in qc:
        lf = qc["line_freq"]
        rows.append(("line frequency", (f"{lf['value']:g} Hz" if lf["value"] else "none")
                     + f" ({lf['how']})"))
    for f in qc.get("filters", []):
        extra = f" at {', '.join(f'{x:g}' for x in f['freqs'])} Hz" if "freqs" in f else ""
        rows.append(("filter", f"{f['kind']}{extra}; {f['design']}"))
    if "reference" in qc:
        ref = qc["reference"]
        text = ref["kind"] + (f" of {ref['channels']} channels" if "channels" in ref else "")
        if "pairs" in ref:
            text += f" ({len(ref['pairs'])} pairs along shafts)"
        rows.append(("reference", text))
    if "bad_channels" in qc:
        bads = qc["bad_channels"]
        rows.append(("bad channels", ", ".join(
            f"{b['channel']} ({b['reason']}, {b['action']})" for b in bads) or "none"))
    ica = qc.get("ica")
    if ica and ica.get("enabled"):
        removed = [c for c in ica.get("components", []) if c["removed"]]
        note = f"; {ica['labeller_note']}" if ica.get("labeller_note") else ""
        rows.append(("ICA", f"{ica.get('method', '')}, {ica.get('n_components', 0)} components, "
                     f"labels by {ica.get('labeller', 'none')}{note}"))
        rows.append(("components removed", ", ".join(
            f"IC{c['index']:02d} {c['label']}" + (f" ({c['probability']:.2f})"
                                                 if c["probability"] is not None else "")
            for c in removed) or "none"))
        vr = ica.get("variance_removed", {}).get("total")
        if vr is not None:
            rows.append(("variance removed by ICA", f"{100 * vr:.1f} %"))
    if "confounds" in qc:
        c = qc["confounds"]
        rows.append(("confounds", f"{c['n']} regressed ({c['strategy']})"
                     + (f"; {c['note']}" if c["note"] else "")))
        rows += _fmri_facts(qc)
    vr = qc.get("variance_removed", {})
    if vr.get("median") is not None:
        rows.append(("variance removed (median channel)", f"{100 * vr['median']:.1f} %"))
    if "dff" in qc:
        d = qc["dff"]
        rows.append(("dF/F", d.get("skipped") or
                     f"running {d['percentile']:g}th percentile over {d['window_s']:g} s"))
        if qc.get("neuropil"):
            rows.append(("neuropil", f"subtracted x {qc['neuropil']['coefficient']:g}"))
        if qc.get("deconvolution"):
            rows.append(("deconvolution", qc["deconvolution"]["method"]))
        rows.append(("SNR (median neuron)", f"{qc['snr']['median']:.2f}"))
    if "firing_rate_hz" in qc:
        rows.append(("firing rate (median unit)", f"{qc['median_rate_hz']:.3g} Hz"))
        rows.append(("silent units", ", ".join(qc["silent"]) or "none"))
    return rows


def _fmri_facts(qc: dict) -> list[tuple[str, str]]:
    """Dummy scans, censoring, FD and DVARS of an fMRI session's qc.json."""
    rows = []
    if "route" in qc["confounds"]:
        rows.append(("confounds chosen by", qc["confounds"]["route"]))
    if "dummy_scans" in qc:
        d = qc["dummy_scans"]
        rows.append(("dummy scans", f"{d['n']} removed ({d['how']})"))
    for key, label, unit in (("framewise_displacement", "framewise displacement", " mm"),
                             ("std_dvars", "standardised DVARS", "")):
        m = qc.get(key, {})
        if "mean" in m:
            above = (f", {100 * m['fraction_above']:.1f} % of volumes > {m['threshold']:g}{unit}"
                     if "threshold" in m else "")
            rows.append((label, f"mean {m['mean']:.3f}{unit}, max {m['max']:.3f}{unit}{above} "
                                f"({m['source']})"))
    if qc.get("fd_dvars_correlation") is not None:
        rows.append(("FD-DVARS correlation", f"r = {qc['fd_dvars_correlation']:.3f}"))
    c = qc.get("censoring")
    if c:
        why = ", ".join(f"{k} {len(v)}" for k, v in c["by"].items() if v) or "none"
        rows.append(("censoring", (f"{c['n_volumes'] - c['n_kept']} of {c['n_volumes']} "
                                   f"volumes censored ({why}); {100 * c['fraction_kept']:.1f} % "
                                   f"kept ({c['kept_seconds']:.0f} s)") if c["enabled"] or
                     c["n_kept"] < c["n_volumes"] else "off"))
    return rows


def _spectra(raw: Session, clean: Session, path: Path) -> str | None:
    n = min(raw.n_times, clean.n_times,
            max(int(round(PSD_SECONDS * raw.sfreq)), PSD_MIN_SAMPLES))
    if n < 20:
        return None
    kinds = [k for k in main_types(clean) if k in main_types(raw)][:2]
    if not kinds:
        return None
    relative = raw.modality not in EPHYS
    with style.figure(5.5 * len(kinds) + 1.0, 3.6) as fig:
        axes = np.atleast_1d(fig.subplots(1, len(kinds), squeeze=False)[0])
        for ax, kind in zip(axes, kinds, strict=True):
            for sess, color, label in ((raw, "#999999", "raw"), (clean, "#1d3557", "clean")):
                types = sess.coord("channel_type").astype(str)
                picks = evenly(np.flatnonzero(types == kind), MAX_PSD_CHANNELS)
                sig = load_window(sess, 0, n, picks)
                x = np.asarray(sig.values, dtype=np.float64)
                factor, unit = style.display_unit(kind, str(sig["unit"].values[0]))
                freqs, power = psd(x * factor, sess.sfreq)
                keep = (freqs > 0) & (freqs < sess.sfreq / 2)
                freqs, power = freqs[keep], power[keep]
                if relative:
                    power = power / np.maximum(power.sum(axis=0, keepdims=True), 1e-300)
                logp = np.log10(np.maximum(power, np.finfo(float).tiny))
                ax.plot(freqs, 10 ** logp.mean(axis=1), color=color, lw=1.2, label=label)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("frequency (Hz)")
            ax.set_ylabel("share of power per bin" if relative else f"PSD ({unit}²/Hz)")
            ax.set_title(kind)
            ax.grid(True, which="major", color="#dddddd", lw=0.5)
            ax.legend()
        fig.suptitle(f"session {raw.key}: spectrum before and after preprocessing")
        style.save(fig, path)
    what = "each channel's share of its power" if relative else "absolute power"
    return (f"Welch spectra of the first {n / raw.sfreq:.3g} s, mean of log power across "
            f"channels ({what}); grey = raw.zarr, blue = clean.zarr.")


def _per_channel(qc: dict, raw: Session, path: Path) -> str | None:
    if "firing_rate_hz" in qc:
        values, what, unit = qc["firing_rate_hz"], "firing rate", "Hz"
    elif "snr" in qc:
        values, what, unit = qc["snr"]["per_channel"], "SNR", ""
    else:
        values, what, unit = qc.get("variance_removed", {}).get("per_channel", {}), \
            "variance removed", "%"
        values = {k: 100 * v for k, v in values.items()}
    if not values:
        return None
    bads = {b["channel"]: b for b in qc.get("bad_channels", [])}
    names = list(values)
    # Bad channels that were dropped have no value: show them in the input's order.
    order = {str(c): i for i, c in enumerate(raw.coord("channel"))}

    def rank(name):  # a bipolar channel sits where its first contact was
        return order.get(name, order.get(name.split("-")[0], len(order)))

    for b in bads:
        if b not in values and b in order:
            after = [i for i, n in enumerate(names) if rank(n) < order[b]]
            names.insert(after[-1] + 1 if after else 0, b)
    height = [values.get(n, np.nan) for n in names]
    width = min(14.0, max(6.0, 0.12 * len(names) + 2))
    with style.figure(width, 3.2) as fig:
        ax = fig.subplots()
        x = np.arange(len(names))
        ax.bar(x, np.nan_to_num(height), color="#457b9d", width=0.8)
        for i, n in enumerate(names):
            if n in bads:
                ax.axvspan(i - 0.5, i + 0.5, color="#e63946", alpha=0.25, lw=0)
                ax.text(i, 0.98, f"{n}: {bads[n]['reason']}", rotation=90, va="top",
                        ha="center", fontsize=7, color="#9d0208",
                        transform=ax.get_xaxis_transform())
        if len(names) <= 64:
            ax.set_xticks(x, names, rotation=90, fontsize=6)
        else:
            ax.set_xticks([])
            ax.set_xlabel(f"{len(names)} channels, in order")
        ax.set_ylabel(f"{what} ({unit})" if unit else what)
        ax.set_title(f"session {raw.key}: {what} per channel")
        style.save(fig, path)
    text = f"{what.capitalize()} per channel"
    if what == "variance removed":
        text += " (1 − var(clean)/var(raw), filters included)"
    if bads:
        text += f"; bad channels shaded red ({len(bads)})"
    return text + "."


def _components(qc: dict, raw: Session, path: Path) -> str | None:
    ica = qc.get("ica") or {}
    comps = ica.get("components") or []
    if not comps:
        return None
    info = _topo_info(raw, ica["channels"]) if ica.get("positions") else None
    n_rows = -(-len(comps) // IC_COLUMNS)
    with style.figure(2.2 * IC_COLUMNS, (2.0 if info else 1.2) * n_rows + 0.6) as fig:
        axes = np.atleast_2d(fig.subplots(n_rows, IC_COLUMNS, squeeze=False))
        for ax, c in zip(axes.ravel(), comps, strict=False):
            color = "#c1121f" if c["removed"] else "#222222"
            if c["probability"] is not None:
                title = f"{c['label']} {c['probability']:.2f}"
            else:  # no network label: name the EOG/ECG correlation, if any flagged it
                scores = {k[:-6].upper(): v for k, v in c.items() if k.endswith("_score")}
                top = max(scores, key=scores.get) if scores else None
                title = f"{top} r={scores[top]:.2f}" if top and c["removed"] else c["label"]
            ax.set_title(f"IC{c['index']:02d} {title}", color=color, fontsize=8)
            if info is not None:
                import mne

                data = np.asarray(c["pattern"], float)[info[1]]
                mne.viz.plot_topomap(data, info[0], axes=ax, show=False, contours=0,
                                     sensors=False)
            else:
                ex = c["excerpt"]
                t = np.arange(len(ex["values"])) / ex["sfreq"]
                ax.plot(t, ex["values"], color=color, lw=0.5)
                ax.set_yticks([])
                ax.set_xlabel("s", fontsize=7)
        for ax in axes.ravel()[len(comps):]:
            ax.set_axis_off()
        fig.suptitle(f"session {raw.key}: ICA components (red = removed)")
        style.save(fig, path)
    shown = "topographies (mixing patterns)" if info else "first seconds of each time course"
    return (f"{len(comps)} components, {shown}; title = most probable label "
            f"({ica.get('labeller', 'none')}) and its probability; red ones were removed.")


def _topo_info(raw: Session, channels: list[str]):
    """An Info of the ICA channels that MNE can draw topomaps of (one type), or None."""
    import mne

    names = [str(c) for c in raw.coord("channel")]
    types = raw.coord("channel_type").astype(str)
    if not all(k in raw.ds.coords for k in ("x", "y", "z")):
        return None
    pos = np.stack([raw.coord(k).astype(float) for k in ("x", "y", "z")], axis=1)
    idx = {n: i for i, n in enumerate(names)}
    kinds = [types[idx[c]] for c in channels if c in idx]
    kind = "mag" if "mag" in kinds else (kinds[0] if kinds else None)
    keep = [j for j, c in enumerate(channels) if c in idx and types[idx[c]] == kind
            and np.isfinite(pos[idx[c]]).all()]
    if len(keep) < 4:
        return None
    chans = [channels[j] for j in keep]
    info = mne.create_info(chans, raw.sfreq, kind)
    if kind in ("eeg", "seeg", "ecog"):
        info.set_montage(mne.channels.make_dig_montage(
            {c: pos[idx[c]] for c in chans}, coord_frame="head"), verbose="error")
    else:
        for ch, c in zip(info["chs"], chans, strict=True):
            ch["loc"][:3] = pos[idx[c]]
    return info, keep


def session_qc(raw: Session, fig_dir: Path, slug: str, link: str) -> dict | None:
    """Figures and facts of a session's preprocessing, or None when it has none.

    Raises
    ------
    InputError
        Naming ``clean.zarr`` or ``qc.json`` when one cannot be read.
    """
    found = paths(raw.path)
    if found is None:
        return None
    clean_path, qc_path = found
    qc = read_qc(qc_path)
    clean = open_session(raw.key, clean_path)
    figures = []
    for name, make in (("spectra", lambda p: _spectra(raw, clean, p)),
                       ("channels", lambda p: _per_channel(qc, raw, p)),
                       ("components", lambda p: _components(qc, raw, p))):
        png = f"{slug}_qc_{name}.png"
        caption = make(fig_dir / png)
        if caption:
            figures.append({"src": f"{link}/{png}", "caption": caption, "alt": name})
    return {"facts": facts(qc), "figures": figures, "qc_path": qc_path}
