"""The ``preprocess`` step: artifact removal of one session, ``raw.zarr`` -> ``clean.zarr``
and ``qc.json`` (:func:`neurodag.preprocess.write`; the options of the session's modality,
:mod:`neurodag.preprocess.options`). A streaming step: EEG/MEG/sEEG/ECoG are read and
written block by block into the runner's temporary path. The clean store keeps the
recording's ``source``."""

from __future__ import annotations

from .. import layout
from ..preprocess.options import OPTIONS
from ..records import QC
from .contract import Arg, Input, Output, Step, Variants


def compute(inputs, options: dict, ctx):
    from .. import preprocess

    raw = ctx.stamp(inputs.read("raw"))   # the clean store keeps these attrs
    qc = preprocess.write(raw, ctx.out["clean"], **options)
    declared = set(QC.__dataclass_fields__) - {"rest", "provenance"}
    record = QC(**{k: v for k, v in qc.items() if k in declared},
                rest={k: v for k, v in qc.items() if k not in declared})
    return {"qc": record}


STEP = Step(
    name="preprocess",
    help="artifact removal: raw.zarr -> clean.zarr + qc.json",
    inputs={"raw": Input("signal", "the session's contract store")},
    outputs={"clean": Output("signal", "the preprocessed store",
                             name=layout.name(layout.CLEAN_ZARR)),
             "qc": Output("json", "what was done and found", name=layout.name(layout.QC_JSON))},
    options=Variants("modality", OPTIONS, from_input="raw",
                     doc="the options of the input's modality"),
    compute=compute,
    config="preprocess",
    keeps_source=True,
    args=(Arg("raw", role="raw", metavar="INPUT.zarr"),),
)
