"""GLM-HMM: a hidden Markov chain over GLM emission states, driven by the outputs' own
history, by external covariates, or both.

A hidden Markov chain z_t switches between S states; in state s output n (a neuron, a
choice) emits ``x[t, n] ~ p(g(b[s, n] + W[s, n] . h_t + V[s, n] . u_t))`` where ``h`` is the
exp(-k) history of every output over ``n_lags`` bins (coupling; Li et al., "One-hot
Generalized Linear Model for Switching Brain State Discovery", ICLR 2024) and ``u`` external
covariates (stimulus kernels, task columns; Ashwood et al., "Mice alternate between
discrete strategies during perceptual decision-making", Nat. Neurosci. 2022). Emissions
are Poisson, Gaussian, Bernoulli or categorical; transitions stationary or driven by the
covariates (ssm's ``InputDrivenTransitions``). Data are any number of sequences of any
lengths (sessions, trials), with optional masks of missing values. Fitted by EM in torch
(:mod:`.em`):

- E-step: chunked scaled forward-backward (:mod:`.hmm`), exact, batched over sequences
  and chunks, memory O(T S).
- M-step: stationary transitions in closed form with a Dirichlet prior (``pseudocount`` =
  alpha - 1 on every entry, ``stickiness`` on the diagonal); input-driven ones by L-BFGS
  (:mod:`.transitions`); weights and biases by damped Newton batched over states and
  outputs (:mod:`.newton`, :mod:`.categorical`) with a zero-mean Gaussian prior of
  precision ``l2`` (Ashwood's sigma = 1 / sqrt(l2)), or around the states' mean
  (``prior="gaussian"``); Adam on a Gumbel-softmax relaxation for ``prior="onehot"``
  (:mod:`.onehot`).

Initialisation (``init``): ``"kmeans"`` clusters windows of 50 bins on their spike-history
moments (:func:`~.data.kmeans_posteriors`), ``"random"`` labels random segments, both
starting EM from those posteriors; ``"glm"`` fits one GLM to all the data and copies it
to every state with N(0, ``init_noise``^2) noise (Ashwood's protocol, with ``n_init``
restarts); a fitted :class:`GLMHMM` starts from its parameters (global -> per-subject
fits, :mod:`.pooled`). ``"auto"``: kmeans with coupling inputs, glm otherwise.
Computation is float64 by default (exact enough to match brute force to 1e-10).
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from ...errors import InputError
from . import em, hmm
from . import emissions as glm
from .data import closest, prepare, split
from .export import to_xarray

PRIORS = ("none", "gaussian", "onehot")
INPUTS = ("coupling", "covariates", "both")
TRANSITIONS = ("stationary", "input_driven")
INITS = ("auto", "kmeans", "random", "glm")


class GLMHMM:
    """Hidden Markov model with GLM emissions (scikit-learn API).

    Parameters
    ----------
    n_states : int
        Number of hidden states S (>= 1).
    prior : {"none", "gaussian", "onehot"}
        Prior on the coupling weights: none (only the ridge ``l2``), Gaussian around the
        states' mean (``sigma0``), or one-hot connectivity (inhibitory / none / excitatory;
        coupling inputs only).
    emission : {"poisson", "gaussian", "bernoulli", "categorical"}
    link : {"softplus", "sigmoid", "exp", "identity"}
        ``sigmoid`` is the paper's scaled sigmoid with rates in (1e-8, 1); ``identity``
        only with Gaussian emissions; Bernoulli needs ``sigmoid``; categorical ignores it.
    n_lags : int
        Bins of history feeding the coupling inputs (exp(-k) basis).
    inputs : {"coupling", "covariates", "both"}
        Features of the emissions: the outputs' own history, the covariates given to
        :meth:`fit`, or both.
    transitions : {"stationary", "input_driven"}
        Input-driven: transition logits linear in the covariates.
    n_classes : int or None
        Categorical emission: number of classes (default: from the training data).
    share_bias : bool or "auto"
        One bias per output for all states (the coupling paper's model) or one per state;
        auto: shared with coupling inputs only, per state otherwise.
    sigma0 : float
        Standard deviation of the Gaussian prior around the states' mean.
    tau, n_adam_steps, lr : float, int, float
        Gumbel-softmax temperature, Adam steps per M-step and learning rate (one-hot).
    concentration : sequence of 3 floats
        Dirichlet hyperprior of the one-hot prior pi over (inh, none, exc).
    l2 : float
        Precision of a zero-mean Gaussian prior on the weights (not the biases), in
        log-likelihood units, added to any other prior; also the ridge on the transition
        weights.
    max_iter, tol : int, float
        EM stops when the log-likelihood per observed value rises by less than ``tol``.
    newton_iter : int
        Newton iterations per M-step (one is a generalised EM step).
    init : {"auto", "kmeans", "random", "glm"} or GLMHMM
        See the module docstring.
    n_init : int
        EM runs from different starts; the best training log-likelihood is kept.
    init_noise : float
        Standard deviation of the noise added to the GLM weights (``init="glm"``).
    pseudocount, stickiness : float
        Dirichlet prior on each transition row (alpha - 1 on every entry, kappa more on
        the diagonal); ``pseudocount`` also on the initial distribution.
    random_state : int or None
    device : {"cpu", "cuda"}
    dtype : {"float64", "float32"}
    chunk : int, optional
        Chunk length of the forward-backward.

    Attributes
    ----------
    weights_ : ndarray (S, N, N) or None
        Coupling weights ``weights_[s, post, pre]``; for the one-hot prior,
        ``adjacency_ * strength_``. None without coupling inputs.
    input_weights_ : ndarray (S, N, M), (S, N, C - 1, M) for categorical, or None
        Covariate weights.
    bias_ : ndarray (S, N), or (S, N, C - 1)
    transmat_, startprob_ : ndarray, shapes (S, S) and (S,)
        With input-driven transitions, ``transmat_`` is the matrix at covariates 0.
    transition_weights_ : ndarray (S, M) or None
        Input-driven transitions: the weight of each covariate on entering each state.
    variance_ : ndarray, shape (S, N), or None
        Gaussian emissions only.
    adjacency_, strength_, logits_, prior_, prior_mean_ : ndarrays or None
        One-hot prior (connectivity in {-1, 0, 1}, strengths, class logits, pi) and
        Gaussian prior (W0) results.
    loglik_trace_ : ndarray
        Training log-likelihood after each EM iteration.
    n_iter_, converged_ : int, bool
    n_outputs_, n_classes_ : int, int or None
    channels_, covariates_ : list of str or None
        Output and covariate names when the training data carried them.
    """

    def __init__(self, n_states=2, prior="none", emission="poisson", link="softplus", n_lags=5,
                 *, inputs="coupling", transitions="stationary", n_classes=None,
                 share_bias="auto", sigma0=1 / 3, tau=0.2, n_adam_steps=50, lr=0.05,
                 concentration=(0.2, 1.6, 0.2), l2=1e-2, max_iter=200, tol=1e-6,
                 newton_iter=1, init="auto", n_init=1, init_noise=0.2, pseudocount=1.0,
                 stickiness=0.0, random_state=None, device="cpu",
                 dtype="float64", chunk=None):
        self.n_states = n_states
        self.prior = prior
        self.emission = emission
        self.link = link
        self.n_lags = n_lags
        self.inputs = inputs
        self.transitions = transitions
        self.n_classes = n_classes
        self.share_bias = share_bias
        self.sigma0 = sigma0
        self.tau = tau
        self.n_adam_steps = n_adam_steps
        self.lr = lr
        self.concentration = concentration
        self.l2 = l2
        self.max_iter = max_iter
        self.tol = tol
        self.newton_iter = newton_iter
        self.init = init
        self.n_init = n_init
        self.init_noise = init_noise
        self.pseudocount = pseudocount
        self.stickiness = stickiness
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.chunk = chunk

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        for name, lo in (("n_states", 1), ("n_lags", 1), ("max_iter", 1), ("n_init", 1),
                         ("newton_iter", 1), ("n_adam_steps", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise InputError(f"{name}={v!r}: expected an integer >= {lo}")
        for name, choices in (("prior", PRIORS), ("emission", glm.EMISSIONS),
                              ("link", glm.LINKS), ("inputs", INPUTS),
                              ("transitions", TRANSITIONS), ("dtype", ("float64", "float32"))):
            if getattr(self, name) not in choices:
                raise closest(getattr(self, name), choices, name)
        if self.emission == "bernoulli" and self.link != "sigmoid":
            raise InputError(f"link={self.link!r}: Bernoulli emission needs link='sigmoid'")
        if self.link == "identity" and self.emission != "gaussian":
            raise InputError("link='identity' needs emission='gaussian'")
        if self.prior == "onehot" and (self.inputs != "coupling"
                                       or self.emission == "categorical"):
            raise InputError("prior='onehot' is a prior on coupling weights: it needs "
                             "inputs='coupling' and a Poisson, Gaussian or Bernoulli emission")
        if self.n_classes is not None and (self.emission != "categorical" or isinstance(
                self.n_classes, bool) or not isinstance(self.n_classes, (int, np.integer))
                or self.n_classes < 2):
            raise InputError(f"n_classes={self.n_classes!r}: an integer >= 2, for "
                             "emission='categorical' only")
        if self.share_bias not in ("auto", True, False):
            raise InputError(f"share_bias={self.share_bias!r}: expected True, False or 'auto'")
        if self.share_bias is True and self.emission == "categorical":
            raise InputError("share_bias=True: categorical outputs have a bias per state")
        for name in ("sigma0", "tau", "lr", "tol"):
            v = getattr(self, name)
            if not np.isfinite(v) or v <= 0:
                raise InputError(f"{name}={v!r}: expected a positive number")
        for name in ("l2", "pseudocount", "stickiness", "init_noise"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise InputError(f"{name}={v!r}: expected a number >= 0")
        if not isinstance(self.init, GLMHMM) and self.init not in INITS:
            raise closest(self.init, INITS, "init")
        if self.init in ("kmeans", "random") and self.inputs == "covariates":
            raise InputError(f"init={self.init!r} clusters spike-history moments: use "
                             "init='glm' without coupling inputs")
        conc = np.asarray(self.concentration, dtype=float)
        if conc.shape != (3,) or not np.all(np.isfinite(conc)) or np.any(conc <= 0):
            raise InputError(f"concentration={self.concentration!r}: expected 3 positive numbers")
        if self.device not in ("cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise closest(self.device, ("cpu", "cuda"), "device")
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"device={self.device!r}: CUDA is not available here; use 'cpu'")
        self.share_bias_ = (self.inputs == "coupling" and self.emission != "categorical"
                            if self.share_bias == "auto" else bool(self.share_bias))
        self.init_ = (("kmeans" if self.inputs != "covariates" else "glm")
                      if self.init == "auto" else self.init)

    @property
    def _tdtype(self):
        return torch.float64 if self.dtype == "float64" else torch.float32

    @property
    def _needs_covariates(self):
        return self.inputs != "coupling" or self.transitions == "input_driven"

    def _prepare(self, X, covariates=None, mask=None, fitted=False):
        if self._needs_covariates and covariates is None:
            raise InputError(f"inputs={self.inputs!r}, transitions={self.transitions!r}: "
                             "covariates are required")
        if not self._needs_covariates:
            covariates = None
        return prepare(
            X, n_lags=self.n_lags, emission=self.emission, device=self.device,
            dtype=self._tdtype, covariates=covariates, mask=mask, inputs=self.inputs,
            n_neurons=self.n_outputs_ if fitted else None,
            n_covariates=self.n_covariates_ if fitted and covariates is not None else None,
            n_classes=getattr(self, "n_classes_", None) if fitted else self.n_classes)

    # ------------------------------------------------------------------ fitting
    def fit(self, X, covariates=None, mask=None):
        """Fit by EM.

        Parameters
        ----------
        X : array (T, N) or (T,), xarray DataArray/Dataset with dims (time or trial,
            channel), or a list of those (independent sequences: trials, sessions,
            subjects), all with the same N.
        covariates : array (T, M), DataArray (time or trial, covariate), or a list of those
            One per sequence of ``X``; required unless inputs="coupling" with stationary
            transitions.
        mask : bool array (T,) or (T, N), or a list of those
            True where observed; the rest is left out of the likelihood (may be NaN).

        Returns
        -------
        self
        """
        self._check_params()
        data, _ = self._prepare(X, covariates, mask)
        return self._fit_prepared(data)

    def _fit_prepared(self, data):
        self._check_params()
        if self.emission == "categorical":
            observed = data.X if data.mask is None else data.X[data.mask > 0]
            self.n_classes_ = int(self.n_classes or max(2, int(observed.max()) + 1))
        else:
            self.n_classes_ = None
        rng = np.random.default_rng(self.random_state)
        best = None
        for _ in range(self.n_init):
            run = em.run(self, data, int(rng.integers(2**31)))
            if best is None or run["loglik"] > best["loglik"]:
                best = run
        self._set_attributes(best, data)
        return self

    def _set_attributes(self, run, data):
        p = {k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v)
             for k, v in run["params"].items()}
        W1 = p["W1"]
        n_c, N = data.n_coupling, data.X.shape[1]
        self.bias_ = W1[..., 0]
        self.weights_ = W1[..., 1:1 + n_c] if n_c else None
        self.input_weights_ = W1[..., 1 + n_c:] if W1.shape[-1] > 1 + n_c else None
        if "log_P" in p:
            self.transmat_ = np.exp(p["log_P"])
            self.transition_weights_ = p["Wt"]
        else:
            self.transmat_ = p["P"]
            self.transition_weights_ = None
        self.startprob_ = p["p0"]
        self.variance_ = p["var"]
        self.adjacency_ = p.get("adjacency")
        if self.adjacency_ is not None:
            self.adjacency_ = self.adjacency_.astype(np.int8)
        self.prior_ = p.get("prior")
        self.logits_ = p.get("logits")
        self.strength_ = p.get("strength")
        self.prior_mean_ = p.get("prior_mean")
        if self.prior_mean_ is not None:
            self.prior_mean_ = self.prior_mean_[:, :n_c]
        self.loglik_trace_ = np.asarray(run["trace"])
        self.n_iter_ = len(run["trace"])
        self.converged_ = bool(run["converged"])
        self.n_outputs_ = self.n_neurons_ = int(N)
        self.n_covariates_ = None if data.U is None else int(data.U.shape[1])
        self.channels_ = data.channels
        self.covariates_ = data.covariates

    @classmethod
    def from_params(cls, weights=None, bias=None, transmat=None, startprob=None, variance=None,
                    *, input_weights=None, transition_weights=None, **params):
        """A model with given parameters (e.g. the ground truth of a simulation), ready to score.

        ``weights`` (S, N, N) are coupling weights, ``input_weights`` (S, N, M) covariate
        weights ((S, N, C - 1, M) for categorical outputs); ``bias`` may be (N,) (shared),
        (S, N) or (S, N, C - 1); ``transmat`` (S, S) (with ``transition_weights`` (S, M)
        the input-driven baseline); ``startprob`` defaults to uniform.
        """
        parts = [np.asarray(w, dtype=np.float64) for w in (weights, input_weights)
                 if w is not None]
        if not parts:
            raise InputError("from_params: give weights and/or input_weights")
        S = parts[0].shape[0]
        params.setdefault("inputs", "both" if len(parts) == 2 else
                          "coupling" if weights is not None else "covariates")
        if transition_weights is not None:
            params.setdefault("transitions", "input_driven")
        m = cls(n_states=S, **params)
        m._check_params()
        if weights is not None:
            W = parts[0]
            if W.ndim != 3 or W.shape[1] != W.shape[2]:
                raise InputError(f"weights: expected shape (S, N, N), got {W.shape}")
        lead = parts[0].shape[:-1]
        m.weights_ = parts[0] if weights is not None else None
        m.input_weights_ = parts[-1] if input_weights is not None else None
        m.bias_ = np.broadcast_to(np.asarray(bias, dtype=np.float64), lead).copy()
        m.transmat_ = np.asarray(transmat, dtype=np.float64)
        m.transition_weights_ = (None if transition_weights is None
                                 else np.asarray(transition_weights, dtype=np.float64))
        m.startprob_ = (np.full(S, 1.0 / S) if startprob is None
                        else np.asarray(startprob, dtype=np.float64))
        m.variance_ = None if variance is None else np.broadcast_to(
            variance, lead[:2]).copy()
        m.adjacency_ = m.prior_ = m.logits_ = m.strength_ = m.prior_mean_ = None
        m.loglik_trace_ = np.zeros(0)
        m.n_iter_, m.converged_, m.n_outputs_ = 0, True, int(lead[1])
        m.n_neurons_ = m.n_outputs_
        m.n_covariates_ = None if m.input_weights_ is None and transition_weights is None \
            else int((parts[-1] if input_weights is not None else m.transition_weights_)
                     .shape[-1])
        m.n_classes_ = (lead[2] + 1) if m.emission == "categorical" else None
        m.channels_ = m.covariates_ = None
        return m

    # ------------------------------------------------------------------ inference
    def _tensors(self) -> dict:
        """The fitted parameters as the tensors of :mod:`.em`."""
        if not hasattr(self, "startprob_"):
            raise InputError("GLMHMM is not fitted yet: call fit() first")

        def t(v):
            return torch.as_tensor(v, dtype=self._tdtype, device=self.device)

        blocks = [self.bias_[..., None]] + [w for w in (self.weights_, self.input_weights_)
                                            if w is not None]
        p = {"W1": t(np.concatenate(blocks, axis=-1)), "p0": t(self.startprob_),
             "var": None if self.variance_ is None else t(self.variance_)}
        if self.transition_weights_ is not None:
            p["log_P"] = torch.log(t(self.transmat_))
            p["Wt"] = t(self.transition_weights_)
        else:
            p["P"] = t(self.transmat_)
        return p

    def _infer(self, X, covariates, mask):
        p = self._tensors()
        data, is_list = self._prepare(X, covariates, mask, fitted=True)
        lay = hmm.make_layout(data.lengths, data.X.device, self.chunk)
        return data, is_list, p, lay

    def _score_prepared(self, data) -> float:
        p = self._tensors()
        lay = hmm.make_layout(data.lengths, data.X.device, self.chunk)
        return float(em.estep(self, data, p, lay, posteriors=False).sum()) / data.n_obs

    def score(self, X, covariates=None, mask=None) -> float:
        """Log-likelihood of ``X`` (marginalised over states) per observed value (bin x
        output, or trial)."""
        self._tensors()
        data, _ = self._prepare(X, covariates, mask, fitted=True)
        return self._score_prepared(data)

    def predict_proba(self, X, covariates=None, mask=None):
        """Posterior state probabilities: (T, S) per sequence (a list for a list input)."""
        data, is_list, p, lay = self._infer(X, covariates, mask)
        gamma = em.estep(self, data, p, lay)[0].cpu().numpy()
        return split(gamma, data.lengths, is_list)

    def predict(self, X, covariates=None, mask=None):
        """Viterbi state path: (T,) int per sequence (a list for a list input)."""
        data, is_list, p, lay = self._infer(X, covariates, mask)
        log_e = em.emission_loglik(self, data, p)
        path = hmm.viterbi(log_e, lay, em.transition_matrices(p, data), p["p0"])
        return split(path, data.lengths, is_list)

    def decode(self, X, covariates=None, mask=None):
        """One inference pass: (Viterbi paths, posteriors, log-likelihood per observed
        value), i.e. :meth:`predict`, :meth:`predict_proba` and :meth:`score` together."""
        data, is_list, p, lay = self._infer(X, covariates, mask)
        log_e = em.emission_loglik(self, data, p)
        P = em.transition_matrices(p, data)
        gamma, _, _, loglik = hmm.forward_backward(log_e, lay, P, p["p0"])
        paths = split(hmm.viterbi(log_e, lay, P, p["p0"]), data.lengths, is_list)
        probs = split(gamma.cpu().numpy(), data.lengths, is_list)
        return paths, probs, float(loglik.sum()) / data.n_obs

    def to_xarray(self) -> xr.Dataset:
        """The fitted model as a Dataset with named dims (state, post, pre, ...), for .nc."""
        self._tensors()
        return to_xarray(self)
