"""The ``ingest-connectome`` step: one connectome annotation of a fetched reference (cect,
wormneuroatlas) on the canonical C. elegans neurons -> ``connectome.zarr``."""

from __future__ import annotations

from dataclasses import dataclass

from .. import layout
from ..options import Options, option
from .contract import Input, Output, Step


@dataclass(frozen=True)
class ConnectomeOptions(Options):
    reference: str = option(..., "the annotation, NAME/SESSION (e.g. cect/white1986_whole)")


def compute(inputs, options: ConnectomeOptions, ctx):
    from .. import reference
    from .ingest import _split

    name, session = _split(options.reference)
    ds = reference.read(name, session, inputs["reference"].parent)
    ctx.stamp(ds, ctx.provenance(hashes=ds.attrs["inputs"], source=ds.attrs["source"],
                                 source_sha256=ds.attrs["source_sha256"]))
    return {"connectome": ds}


STEP = Step(
    name="ingest-connectome",
    help="read one connectome annotation of a fetched reference into connectome.zarr",
    inputs={"reference": Input("folder", "the fetched reference (fetch-reference)")},
    outputs={"connectome": Output("connectome", "the annotation on the canonical neurons",
                                  name=layout.name(layout.SESSION_CONNECTOME))},
    options=ConnectomeOptions,
    compute=compute,
)
