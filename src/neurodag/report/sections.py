"""Report sections for a dataset's dataset-level products (homogenized stacks, connectomes).

Each builder reads its product (a path, or ``{session: path}`` for per-session products),
writes figures into the page's figure folder and returns a dict the dataset template renders
generically: ``title``, ``anchor``, ``text``, ``facts`` (label, value) pairs, ``table``
(``columns``, ``rows``) and ``figures`` (``src``, ``caption``, ``json``). Metrics are read
through the record of the step that wrote them. The page module calls :func:`build` for
every product it is given; a product without a builder gets a plain section listing it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import quote

import numpy as np
import xarray as xr

from .. import layout
from ..errors import InputError
from ..store import read_dataset, read_signal


def _figures(made: Mapping[str, tuple[Path, Path, str]], link: str) -> list[dict]:
    return [{"src": f"{link}/{quote(png.name)}", "json": f"{link}/{quote(js.name)}",
             "caption": caption} for png, js, caption in made.values()]


def homogenized(path: Path, fig_dir: Path, link: str, **_) -> dict:
    """Calcium sessions on canonical neurons: coverage and a resampling check."""
    from . import homogenize as figs

    stacked = read_dataset(path).load()
    if "neuron" not in stacked.dims:
        return _stacked_channels(stacked, path, fig_dir, link)
    # the homogenize step records which store each session of the stack came from
    originals = {k: Path(p) for k, p in stacked.attrs.get("stores", {}).items()}
    names = set(stacked["session"].values.tolist())
    opened = {k: read_signal(p) for k, p in originals.items() if k in names and p.exists()}
    made = figs.run(fig_dir, stacked=stacked, originals=opened)
    labelled = stacked["labelled"].values.astype(bool)
    recorded = stacked["mask"].values[:, labelled].any(axis=0)
    dropped = stacked.attrs.get("dropped", [])
    return {
        "title": "Homogenized activity", "anchor": "homogenized",
        "text": f"All sessions on the 300 canonical C. elegans neurons (plus extra slots for "
                f"unlabelled ROIs) at one time step: {path.name}.",
        "facts": [
            ("sessions", int(stacked.sizes["session"])),
            ("datasets", ", ".join(sorted(set(stacked["dataset"].values.tolist())))),
            ("time step", f"{float(stacked.attrs['dt']):g} s"),
            ("canonical neurons recorded", f"{int(recorded.sum())} of {int(labelled.sum())}"),
            ("recordings dropped", len(dropped) if isinstance(dropped, list) else dropped),
        ],
        "table": None, "figures": _figures(made, link),
    }


def _stacked_channels(stacked: xr.Dataset, path: Path, fig_dir: Path, link: str) -> dict:
    from . import homogenize as figs

    dim = "region" if "region" in stacked.dims else "channel"
    made = {"coverage": figs.plot_channel_coverage(stacked, fig_dir / "channel_coverage.png")}
    return {
        "title": "Homogenized sessions", "anchor": "homogenized",
        "text": f"Sessions on common {dim}s and one rate: {path.name}.",
        "facts": [("sessions", int(stacked.sizes["session"])),
                  (f"{dim}s", int(stacked.sizes[dim])),
                  ("rate", f"{float(stacked.attrs.get('sfreq', np.nan)):g} Hz")],
        "table": None, "figures": _figures(made, link),
    }


def connectome(path: Path, fig_dir: Path, link: str, **_) -> dict:
    """Merged connectome annotations: totals per annotation, agreement and consensus."""
    from . import homogenize as figs

    merged = read_dataset(path).load()
    made = figs.run(fig_dir, merged=merged)
    synapses = [str(s) for s in merged["synapse"].values]
    rows = []
    for a in merged["annotation"].values:
        m = merged.sel(annotation=a)
        row = [str(a), str(m["units"].values)]
        for syn in synapses:
            covered = bool(m["covered"].sel(synapse=syn).any())
            row += [f"{float(m['total'].sel(synapse=syn)):g}" if covered else "",
                    int(m["edge"].sel(synapse=syn).sum()) if covered else ""]
        rows.append(row)
    columns = ["annotation", "units"] + [f"{s} {k}" for s in synapses for k in ("total", "edges")]
    return {
        "title": "Consensus connectome", "anchor": "connectome",
        "text": (f"{int(merged.sizes['annotation'])} annotations merged on the 300 canonical "
                 f"neurons as [pre, post] (gap junctions symmetrised by "
                 f"{merged.attrs.get('symmetrization', 'max')}); totals are restricted to "
                 "canonical neurons and equal each source's own."),
        "facts": [("annotations", int(merged.sizes["annotation"])),
                  ("synapse types", ", ".join(synapses))],
        "table": {"columns": columns, "rows": rows}, "figures": _figures(made, link),
    }


def glmhmm(paths, fig_dir: Path, link: str, **_) -> dict:
    """GLM-HMM fits of every session (``{session: models/glmhmm/{session}/}``), or of every
    session of every subject of trial tables (one folder, ``models/glmhmm/pooled/``)."""
    from ..records import GLMHMMMetrics as Metrics
    from . import glmhmm as figs

    if not isinstance(paths, Mapping):
        return glmhmm_pooled(paths, fig_dir, link)
    made, rows, fmri = {}, [], None
    for session, folder in paths.items():
        m = Metrics.read(folder / layout.METRICS)
        for key, fig in figs.plot_session(folder, m, fig_dir, session).items():
            made[f"{session}/{key}"] = fig
        k = str(m.selected_n_states)
        ll = m.heldout_loglik_mean
        st = m.states or {}
        rows.append([m.session, m.n_neurons, m.n_sequences, m.n_bins, m.selected_n_states,
                     f"{ll[k]:.4f}",
                     f"{(ll[k] - ll['1']) / np.log(2):+.4f}" if "1" in ll else "",
                     _per_state(st.get("occupancy"), "{:.2f}"),
                     _per_state(st.get("dwell_mean_s"), "{:.3g}")])
        inputs = m.options.get("inputs", "coupling")
        covariates = m.covariates or []
        fmri = m.fmri or fmri
    unit = "neuron" if fmri is None else "component"
    return {
        "title": "GLM-HMM", "anchor": "glmhmm",
        "text": "Hidden-state GLMs of each session: the number of states chosen by "
                f"cross-validated held-out log-likelihood (per bin and {unit}; 1 state is the "
                "plain GLM), the decoded states, the coupling weights of each state and its "
                "weights on the external covariates (stimulus kernels)."
                + ("" if fmri is None else
                   f" fMRI brain states: a Gaussian HMM (a mean and variance per state, no "
                   f"coupling) of the {fmri['components']} leading principal components of "
                   f"{fmri['n_parcels']} parcels ({fmri['atlas']}), censored volumes left "
                   "out of the likelihood; occupancy and dwell times over the kept volumes."),
        "facts": [("sessions", len(rows))] + ([
            ("inputs", inputs),
            ("covariates", _covariate_names(covariates) or "none")] if rows else []),
        "table": {"columns": ["session", "neurons" if fmri is None else "components",
                              "sequences", "bins", "states",
                              f"held-out log-likelihood per bin and {unit}",
                              f"over the 1-state GLM (bits per bin and {unit})",
                              "occupancy per state", "mean dwell per state (s)"],
                  "rows": rows},
        "figures": _figures(made, link),
    }


def _conditions(results, n: int) -> str:
    """``10 (2 event labels x 5 time bins)`` when conditions are ``label@window``."""
    names = [str(c) for c in results["condition"].values] if "condition" in results.coords else []
    if not names or not all("@" in c for c in names):
        return str(n)
    labels = {c.partition("@")[0] for c in names}
    bins = {c.partition("@")[2] for c in names}
    return f"{n} ({len(labels)} event labels x {len(bins)} time bins)"


def _per_state(values, fmt: str) -> str:
    """``0.41, 0.14, 0.45``: one value per state ("-" for a state never visited)."""
    if not values:
        return ""
    return ", ".join("-" if v is None else fmt.format(v) for v in values)


def _covariate_names(names: list[str]) -> str:
    """Covariate names with lagged kernels ``label@lag`` grouped: ``stim1 (lags 0-7)``."""
    lags: dict[str, list[int]] = {}
    for n in names:
        label, _, lag = n.partition("@")
        lags.setdefault(label, []).extend([int(lag)] if lag.isdigit() else [])
    return ", ".join(f"{lab} (lags {min(v)}-{max(v)})" if len(v) > 1 else lab
                     for lab, v in lags.items())


def glmhmm_pooled(path: Path, fig_dir: Path, link: str) -> dict:
    """Choice GLM-HMMs of a dataset of trial tables (Ashwood et al.'s protocol)."""
    from ..records import GLMHMMPooledMetrics as Metrics
    from . import glmhmm as figs

    m = Metrics.read(path / layout.METRICS)
    made = figs.plot_pooled(path, m, fig_dir, "pooled")
    bits = m.bits_per_trial_mean
    glm = bits.get("K1")

    def model(name: str) -> str:
        n = int(name.lstrip("Klapse"))
        if name.startswith("lapse"):
            return f"lapse model, {n} rate{'s' * (n > 1)}"
        return "GLM (1 state)" if n == 1 else f"GLM-HMM, {n} states"

    rows = [[model(name), f"{v:.4f}", "" if glm is None else f"{v - glm:+.4f}"]
            for name, v in bits.items()]
    return {
        "title": "GLM-HMM of choices", "anchor": "glmhmm",
        "text": "Every session of every subject pooled (Ashwood et al. 2022): the number of "
                "states chosen by held-out log-likelihood with folds of whole sessions, a "
                "global model started from a one-state GLM, then one model per subject "
                "started from it; the lapse models on the same folds. Scores in bits per "
                "trial over the training choices' frequency.",
        "facts": [("subjects", len(m.subjects)), ("sessions", m.n_sessions),
                  ("trials with a choice", m.n_trials),
                  ("covariates", ", ".join(m.covariates) or "none"),
                  ("selected states", m.selected_n_states)],
        "table": {"columns": ["model", "held-out bits/trial", "over the GLM"], "rows": rows},
        "figures": _figures(made, link),
    }


def trsa(path: Path, fig_dir: Path, link: str, **_) -> dict:
    """Topological RSA of the dataset (``models/trsa/``: ``trsa.nc``, ``metrics.json``): what
    each RDM covers (regions, scalp quadrants, time windows), what was identified, and why
    not when nothing was."""
    from ..records import TRSAMetrics as Metrics
    from ..store import read_netcdf
    from .rsa import plot_lu_map, plot_rdm_panels

    results = read_netcdf(path / layout.TRSA_RESULTS)
    m = Metrics.read(path / layout.METRICS)
    fig_dir.mkdir(parents=True, exist_ok=True)
    figs = [(plot_rdm_panels(results, fig_dir / "trsa_rdms.png"),
             f"RDMs ({m.layout}; the first six): raw {m.metric} distance, geo-topological "
             f"transform GT({m.lower}, {m.upper}) and geodesic variant.")]
    what = m.identified
    if "accuracy" in results:
        figs.append((plot_lu_map(results["accuracy"], fig_dir / "trsa_lu_accuracy.png",
                                 title=f"{what or 'region'} identification across recordings"),
                     f"Leave-one-recording-out identification of the {what or 'region'} of "
                     "each RDM over the (l, u) grid of GT."))
    # what cannot be identified is said once, by the note ("not computed") below
    facts = [("layout", m.layout)] + ([("identified", what)] if what else []) + [
        ("RDMs", m.n_rdms), ("conditions", _conditions(results, m.n_conditions))]
    for k in ("chance", "accuracy_rdm", "accuracy_gt", "accuracy_geodesic", "best_lu"):
        v = getattr(m, k)
        if v is not None:
            facts.append((k.replace("_", " "), f"{v:.3f}" if isinstance(v, float) else v))
    stab = {k: v for k, v in m.geometric_stability.items() if v is not None}
    if stab:
        facts.append(("geometric stability (Shesha)",
                      ", ".join(f"{k} {v:.3f}" for k, v in stab.items())))
    rel = {k: v for k, v in (m.rdm_reliability or {}).items() if v is not None}
    if rel:
        facts.append(("RDM reliability across recordings (Spearman)",
                      ", ".join(f"{k} {v:.3f}" for k, v in rel.items())))
    if m.note:
        facts.append(("not computed", m.note))
    return {
        "title": "Topological RSA", "anchor": "trsa",
        "text": "Representational dissimilarity matrices of condition patterns, their "
                "geo-topological transforms, and whether an RDM's geometry identifies its "
                "region or time window across recordings (where that is defined).",
        "facts": facts, "table": None,
        "figures": [{"src": f"{link}/{quote(p.name)}", "json": None, "caption": c}
                    for p, c in figs],
    }


def ntf(path: Path, fig_dir: Path, link: str, **_) -> dict:
    """Dynamic connectome (``models/ntf/``: ``rank{r}.nc`` and ``metrics.json``)."""
    from ..records import NTFMetrics as Metrics
    from ..store import read_netcdf
    from .ntf import plot_report

    metrics = Metrics.read(path / layout.METRICS)
    ranks = metrics.curve["ranks"] if metrics.curve else [metrics.rank]
    results = {int(r): read_netcdf(path / layout.NTF_FIT.format(rank=r)) for r in ranks}
    pngs = plot_report(results, metrics, fig_dir)
    chosen = results[int(metrics.rank)]
    fd_r = metrics.fd_correlation
    rows = []
    for r in range(chosen.sizes["factor"]):
        labels = chosen["community"].isel(factor=r).values if "community" in chosen else []
        rows.append([r, len(set(labels.tolist())) if len(labels) else "",
                     _community_sizes(chosen, r),
                     ", ".join(f"{float(v):.2f}"
                               for v in chosen["animal_loading"].isel(factor=r).values)]
                    + ([("" if fd_r[r] is None else f"{fd_r[r]:+.3f}")] if fd_r else []))
    facts = [("selected rank", metrics.rank), ("ranks fitted", len(results)),
             ("nodes", f"{metrics.n_neurons}" + (
                 f" parcels ({metrics.atlas['name']}: {metrics.atlas['reference']})"
                 if metrics.atlas else " neurons")),
             ("windows", f"{metrics.n_windows} of {chosen.attrs['window']} samples every "
                         f"{chosen.attrs['step']}")]
    if fd_r:
        facts.append(("temporal loading vs framewise displacement (Pearson r, per factor)",
                      ", ".join("-" if v is None else f"{v:+.3f}" for v in fd_r)))
    return {
        "title": "Dynamic functional connectome", "anchor": "ntf",
        "text": "Co-fluctuation affinities of node pairs (neurons, or fMRI parcels) in sliding "
                "windows, factorised into affinity patterns with temporal and animal loadings "
                "(non-negative CP), and communities of each pattern (Leiden); for fMRI, each "
                "factor's temporal loading against the head motion of its windows.",
        "facts": facts,
        "table": {"columns": ["factor", "communities", "community sizes", "animal loadings"]
                  + (["r with FD"] if fd_r else []), "rows": rows},
        "figures": [{"src": f"{link}/{quote(p.name)}", "json": None, "caption": p.stem
                     .replace("ntf_", "").replace("_", " ")} for p in pngs],
    }


def _community_sizes(ds: xr.Dataset, factor: int, shown: int = 8) -> str:
    """``12 (lh 7, rh 5), 9, ...``: members per community of one factor, largest first, with
    the hemispheres of fMRI parcels (``lh-ico2-...``) when the names carry them."""
    labels = ds["community"].isel(factor=factor).values
    names = ds["neuron"].values.astype(str)
    parts = []
    for c in sorted(set(labels.tolist()) - {-1}, key=lambda c: -int((labels == c).sum())):
        members = names[labels == c]
        hemis = sorted({n[:2] for n in members if n[:3] in ("lh-", "rh-")})
        split = (" (" + ", ".join(f"{h} {sum(n.startswith(h) for n in members)}"
                                  for h in hemis) + ")") if hemis else ""
        parts.append(f"{members.size}{split}")
    more = f", ... ({len(parts)})" if len(parts) > shown else ""
    return ", ".join(parts[:shown]) + more


def denoised(paths: dict[str, Path], fig_dir: Path, link: str, sessions=None, **_) -> dict:
    """EMG-denoised sessions (``{session: denoised.zarr}``, beside the sessions' raw stores)."""
    from . import denoised as figs

    raw = {k: Path(p) for k, p in (sessions or {}).items()}
    made = {}
    for session, path in paths.items():
        if session not in raw:
            raise InputError(f"{path}: no raw store of session {session!r} to compare with")
        made[session] = figs.plot_session(raw[session], path, fig_dir / f"{session}_denoised.png",
                                          session)
    den = read_signal(next(iter(paths.values()))) if paths else None
    rows = []
    for session, path in paths.items():
        g = figs.gate_summary(read_signal(path))
        if "acted" in g:
            rows.append([session, f"{g['acted']} / {g['channel_windows']}",
                         f"{g['channels_untouched']} / {g['channels']}",
                         ", ".join(g["channels_changed"][:8])
                         + (" ..." if len(g["channels_changed"]) > 8 else ""),
                         f"{100 * g['median_power_removed_where_acted']:.1f}"])
    return {
        "title": "EMG denoising", "anchor": "denoised",
        "text": "EEG with muscle artifacts removed by the compact AT-AT-style denoiser "
                "(only EEG channels change). The network acts on a channel-window only where "
                "its detector flags muscle and the artifact it estimates is large enough; "
                "every other channel-window is returned as it was (denoised.zarr: "
                "denoise_acted, denoise_score, emg_ratio, power_removed per channel and "
                "window).",
        "facts": [("sessions", len(paths)),
                  ("checkpoint", "" if den is None else den.attrs.get("denoiser", "")),
                  ("detector threshold / min. artifact ratio", "" if den is None else
                   f"{den.attrs.get('denoiser_threshold', '')} / "
                   f"{den.attrs.get('denoiser_min_ratio', '')}")],
        "table": {"columns": ["session", "channel-windows changed", "EEG channels untouched",
                              "channels changed", "median % power removed where changed"],
                  "rows": rows} if rows else None,
        "figures": _figures(made, link),
    }


#: Carpet plots drawn on a connectivity section (the first sessions).
CARPETS = 6


def connectivity(path: Path, fig_dir: Path, link: str, **_) -> dict:
    """fMRI connectivity of every session and QC-FC (``models/connectivity/``:
    ``connectivity.nc``, ``metrics.json``)."""
    from ..records import ConnectivityMetrics as Metrics
    from ..store import read_netcdf
    from . import connectivity as figs

    ds = read_netcdf(path / layout.CONNECTIVITY_RESULTS)
    m = Metrics.read(path / layout.METRICS)
    made = {"matrices": figs.matrices(ds, fig_dir / "connectivity_matrices.png")}
    for i in range(min(ds.sizes["session"], CARPETS)):   # a page, not one per session
        made[f"carpet{i}"] = figs.carpet(ds, i, fig_dir / f"connectivity_carpet_{i:02d}.png")
    qc = figs.qcfc(ds, m.qcfc, fig_dir / "connectivity_qcfc.png")
    if qc is not None:
        made["qcfc"] = qc
    q = m.qcfc
    facts = [("measure", m.kind),
             ("atlas", f"{m.atlas}" + (f" ({m.atlas_reference})" if m.atlas_reference else "")),
             ("parcels", f"{m.n_parcels} ({len(m.parcels_dropped)} without signal dropped)"),
             ("parcel order", _order(ds["region"].values.astype(str).tolist()))]
    for side in ("before", "after"):
        if q.get(side):
            facts.append((f"QC-FC {side} denoising", f"median |r| {q[side]['median_abs_r']:.3f}, "
                          f"{100 * q[side]['fraction_p05']:.1f} % of edges p < 0.05"
                          + (f", distance dependence rho {q[side]['distance_dependence_rho']:.3f}"
                             if q[side].get("distance_dependence_rho") is not None else "")))
    if q.get("note"):
        facts.append(("QC-FC", q["note"]))
    rows = [[s["session"], s["n_frames"], s["n_kept"], f"{100 * s['fraction_kept']:.1f} %",
             "" if s["mean_fd"] is None else f"{s['mean_fd']:.3f}",
             "" if s["fd_dvars_r"] is None else f"{s['fd_dvars_r']:.3f}"]
            for s in m.sessions]
    return {
        "title": "Functional connectivity", "anchor": "connectivity",
        "text": "Parcel x parcel connectivity of each session's denoised series over its kept "
                "(uncensored) volumes, carpet plots with the motion traces, and QC-FC, the "
                "standard benchmark of how much motion a denoising leaves in connectivity.",
        "facts": facts,
        "table": {"columns": ["session", "volumes", "kept", "fraction kept", "mean FD (mm)",
                              "FD-DVARS r"], "rows": rows},
        "figures": _figures(made, link),
    }


def _order(names: list[str], shown: int = 6) -> str:
    if len(names) <= 2 * shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])}, …, {', '.join(names[-shown:])} ({len(names)})"


def other(path, fig_dir: Path, link: str, kind: str = "", **_) -> dict:
    """A product without a builder of its own: the files it is made of."""
    paths = path if isinstance(path, dict) else {"": path}
    return {"title": kind, "anchor": kind, "text": f"The {kind} product (no figures yet).",
            "facts": [(k or kind, str(p)) for k, p in paths.items()], "table": None,
            "figures": []}


BUILDERS: dict[str, Callable[..., dict]] = {
    "homogenized": homogenized,
    "connectome": connectome,
    "glmhmm": glmhmm,
    "trsa": trsa,
    "ntf": ntf,
    "denoised": denoised,
    "connectivity": connectivity,
}


def build(kind: str, product, fig_dir: Path, link: str, *, sessions=None) -> dict:
    """The section of product ``kind`` (a key of :data:`BUILDERS`; others get a plain
    section): ``product`` is its path, or ``{session: path}``; ``sessions`` maps session ids
    to their raw stores."""
    per_session = isinstance(product, Mapping)
    paths = ({str(k): Path(p) for k, p in product.items()} if per_session else Path(product))
    for p in (paths.values() if per_session else [paths]):
        if not p.exists():
            raise InputError(f"{p}: no such {kind} product")
    builder = BUILDERS.get(kind, other)
    try:
        return builder(paths, fig_dir, link, sessions=sessions, kind=kind)
    except KeyError as e:   # a store written by another version, or edited
        raise InputError(f"{paths}: the {kind} product lacks {e.args[0]!r}; rerun its step") \
            from None
