"""The ``report-dataset`` step (``neurodag report dataset``): one dataset's page, from the
inputs the rule lists: each session's raw store, its DANDI report, its clean store and QC,
and the dataset's products (``--in products[KIND]=PATH`` or ``products[KIND/SESSION]=PATH``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..options import Options, option
from .contract import Arg, Input, Output, Step, key_paths


@dataclass(frozen=True)
class PageOptions(Options):
    name: str = option(..., "the dataset, as named in the config")
    description: str = option("", "a sentence or two shown under the title")
    config: dict | None = option(None, "the dataset's config entry, shown as YAML",
                                 flags=("--config-json",))
    modality: str | None = option(None, "shown when there are no sessions (default: the "
                                        "config entry's)")


def products(keyed: dict) -> dict:
    """``{KIND: path}`` and ``{KIND/SESSION: path}`` items -> ``{kind: path | {session: path}}``."""
    out: dict = {}
    for key, path in keyed.items():
        kind, sep, session = key.partition("/")
        if sep:
            out.setdefault(kind, {})[session] = path
        else:
            out[kind] = path
    return out


def compute(inputs, options: PageOptions, ctx):
    from ..report import pages

    page, figures = ctx.targets["page"], ctx.targets["figures"]
    link = quote(Path(os.path.relpath(figures, page.parent)).as_posix())
    modality = options.modality or (options.config or {}).get("modality")
    pages.dataset_page(options.name, inputs["raw"], ctx.out["page"],
                       description=options.description, config=options.config,
                       products=products(inputs["products"]), modality=modality,
                       clean=inputs["clean"], qc=inputs["qc"], dandi=inputs["dandi"],
                       figures_dir=ctx.out["figures"],
                       link=link, at=page)
    return {}


def _add_args(p):
    p.add_argument("--product", action="append", metavar="KIND=PATH",
                   help="a dataset-level product shown as a section (same as --in "
                        "products[KIND]=PATH)")


def _adapt(ns, inputs, outputs, options):
    """Old command lines: sessions named by their store's folder, and --product."""
    from ..errors import InputError

    key_paths(inputs, "raw", lambda p: p.parent.name)
    for item in ns.product or []:
        kind, sep, path = item.partition("=")
        if not sep:
            raise InputError(f"--product {item!r}: expected KIND=PATH")
        inputs.setdefault("products", {})[kind] = path
    if "page" in outputs and "figures" not in outputs:
        outputs["figures"] = Path(outputs["page"]).with_suffix("")


STEP = Step(
    name="report-dataset",
    group="report",
    help="one dataset's page from its sessions' stores, QC and products",
    inputs={"raw": Input("signal", "each session's raw store", keyed=True, optional=True),
            "dandi": Input("json", "each session's dandi.json (ingest)", keyed=True,
                           optional=True),
            "clean": Input("signal", "each session's preprocessed store", keyed=True,
                           optional=True),
            "qc": Input("json", "each session's qc.json", keyed=True, optional=True),
            "products": Input("files", "the dataset's products, keyed KIND or KIND/SESSION",
                              keyed=True, optional=True)},
    outputs={"page": Output("html", "the page"),
             "figures": Output("folder", "its figures and summary.json")},
    options=PageOptions,
    compute=compute,
    args=(Arg("name", option="name"),
          Arg("raw", role="raw", nargs="*", metavar="RAW_ZARR",
              help="the sessions' raw stores (SESSION=PATH, or a path: the session is its "
                   "folder)")),
    add_args=_add_args,
    adapt=_adapt,
)
