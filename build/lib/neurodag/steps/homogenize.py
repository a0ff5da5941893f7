"""The ``homogenize`` step: the sessions of one or more datasets stacked into one store.

Calcium (``kind: worms``): recordings on the canonical C. elegans neurons and one time
grid (:func:`neurodag.homogenize.worms.stack`); other modalities (``kind: channels``):
common channels or regions at one rate (:func:`neurodag.homogenize.channels.stack`).
The stores are named ``DATASET/SESSION`` by the rule (``--in stores[DATASET/SESSION]=PATH``);
the stack's sessions are those names (just the session ids when they all come from one
dataset, for channels), and its ``stores`` attribute maps each back to its store.
"""

from __future__ import annotations

from .. import layout
from ..homogenize.options import ChannelsOptions, WormsOptions
from .contract import Arg, Input, Output, Step, Variants, key_paths


def split_key(key: str) -> tuple[str, str]:
    """``DATASET/SESSION`` -> (dataset, session)."""
    from ..errors import InputError

    dataset, sep, session = str(key).rpartition("/")
    if not sep or not dataset or not session:
        raise InputError(f"homogenize: store key {key!r}: expected DATASET/SESSION")
    return dataset, session


def compute(inputs, options, ctx):
    from ..homogenize import channels, worms

    kind, opts = options
    stores = inputs.read("stores")
    paths = inputs["stores"]
    parts = {key: split_key(key) for key in stores}
    if kind == "worms":
        datasets: dict[str, dict] = {}
        for key, (d, s) in parts.items():
            datasets.setdefault(d, {})[s] = stores[key]
        stacked = worms.stack(datasets, **opts.to_dict())
        names = {key: key for key in stores}
    else:
        several = len({d for d, _ in parts.values()}) > 1
        names = {key: key if several else s for key, (d, s) in parts.items()}
        stacked = channels.stack({names[k]: ds for k, ds in stores.items()}, **opts.to_dict())
    ctx.stamp(stacked)
    stacked.attrs["stores"] = {names[k]: str(p) for k, p in paths.items()}
    return {"stacked": stacked}


def _adapt(ns, inputs, outputs, options):
    """Old command lines name stores only by path: their key is the two folders above them
    (``results/{dataset}/{session}/clean.zarr``), as before; rules pass the keys."""
    key_paths(inputs, "stores", lambda p: f"{p.parent.parent.name}/{p.parent.name}")
    if options.get("kind") == "connectome":
        options.pop("kind")
        if isinstance(inputs.get("stores"), dict):
            inputs["annotations"] = {split_key(k)[1]: p for k, p in inputs.pop("stores").items()}
        if "stacked" in outputs:
            outputs["merged"] = outputs.pop("stacked")
        return "merge-connectomes"
    return None


STEP = Step(
    name="homogenize",
    help="stack sessions (and datasets) on common names and rates",
    inputs={"stores": Input("signal", "the sessions' stores, keyed DATASET/SESSION",
                            keyed=True)},
    outputs={"stacked": Output("dataset", "the stack (session, time, channel | neuron)")},
    options=Variants("kind", {"worms": WormsOptions, "channels": ChannelsOptions},
                     doc="worms: calcium on canonical C. elegans neurons; channels: common "
                         "channels (or regions) and rate; connectome: see merge-connectomes"),
    compute=compute,
    config="homogenize",
    args=(Arg("kind", option="kind", help="worms, channels (or connectome)"),
          Arg("stores", role="stores", nargs="+", metavar="STORE",
              help=f"the sessions' stores ({layout.CLEAN_ZARR}) or KEY=PATH")),
    adapt=_adapt,
)
