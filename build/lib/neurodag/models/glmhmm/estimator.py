"""GLM-HMM with Poisson/Gaussian/Bernoulli GLM emissions and none/Gaussian/one-hot priors.

A hidden Markov chain z_t switches between S states; in state s neuron n emits
``x[t, n] ~ p(g(b[s, n] + sum_m W[s, n, m] h[t, m]))`` with ``h`` the exp(-k) history of
every neuron over ``n_lags`` bins (Li et al., "One-hot Generalized Linear Model for
Switching Brain State Discovery", ICLR 2024). Fitted by EM in torch:

- E-step: chunked scaled forward-backward (:mod:`neurodag.models.glmhmm.hmm`), exact, batched
  over sequences and chunks, memory O(T S).
- M-step: transitions and initial distribution in closed form (with ``pseudocount`` added
  to every expected count: a Dirichlet MAP that keeps held-out likelihoods finite);
  weights and biases by damped Newton batched over states and neurons for ``prior="none"``
  and ``"gaussian"`` (log N(W_s | W0, sigma0^2), W0 = mean of the W_s updated in closed
  form); Adam on a Gumbel-softmax relaxation for ``prior="onehot"``
  (:mod:`neurodag.models.glmhmm.onehot`).

Initialisation: transitions 0.98 on the diagonal and 0.02/(S-1) elsewhere, uniform initial
distribution, W = 0, bias = g^-1(mean of each neuron) (shared by the states unless
``share_bias=False``). The states are told apart by the *initial posteriors*, from which
EM starts with an M-step: by default (``init="kmeans"``) windows of 50 bins are clustered
on their spike-history moments (:func:`~neurodag.models.glmhmm.data.kmeans_posteriors`,
seeded by ``random_state``); ``init="random"`` cuts each sequence into segments of
geometric length (mean 50 bins, the dwell time of the initial transitions) labelled with
random states. Computation is float64 by default (exact enough to match brute force to
1e-10); ``dtype="float32"`` halves memory and time.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from sklearn.base import BaseEstimator

from ...errors import InputError
from . import emissions as glm
from . import hmm, onehot
from .data import closest, kmeans_posteriors, prepare, split

PRIORS = ("none", "gaussian", "onehot")


class GLMHMM(BaseEstimator):
    """Hidden Markov model with GLM emissions driven by the neurons' own recent history.

    Parameters
    ----------
    n_states : int
        Number of hidden states S (>= 1).
    prior : {"none", "gaussian", "onehot"}
        Prior on the weights: none (maximum likelihood), Gaussian around the states' mean
        (``sigma0``), or one-hot connectivity (inhibitory / none / excitatory).
    emission : {"poisson", "gaussian", "bernoulli"}
    link : {"softplus", "sigmoid", "exp", "identity"}
        ``sigmoid`` is the paper's scaled sigmoid with rates in (1e-8, 1); ``identity``
        only with Gaussian emissions; Bernoulli needs ``sigmoid``.
    n_lags : int
        Bins of history feeding the GLM (exp(-k) basis).
    share_bias : bool
        One bias per neuron for all states (the paper's model) or one per state.
    sigma0 : float
        Standard deviation of the Gaussian prior.
    tau, n_adam_steps, lr : float, int, float
        Gumbel-softmax temperature, Adam steps per M-step and learning rate (one-hot).
    concentration : sequence of 3 floats
        Dirichlet hyperprior on the one-hot prior pi over (inh, none, exc); the default
        2 * [0.1, 0.8, 0.1] is the paper's generative prior.
    max_iter, tol : int, float
        EM stops when the log-likelihood per bin and neuron rises by less than ``tol``.
    l2 : float
        Ridge on W (in log-likelihood units), added to any prior: keeps the estimate finite
        where the maximum-likelihood weights do not exist (e.g. a saturating sigmoid rate).
    newton_iter : int
        Newton iterations per M-step (warm-started across EM iterations; one is a
        generalised EM step that always raises the objective).
    init : {"kmeans", "random"}
        Initial posteriors: k-means on windows of bins, or random segments.
    n_init : int
        EM runs from different initial posteriors; the best log-likelihood is kept.
    pseudocount : float
        Added to the expected transition and initial-state counts.
    random_state : int or None
        Seed of the initial posteriors (None: fresh entropy each fit).
    device : {"cpu", "cuda"}
    dtype : {"float64", "float32"}
    chunk : int, optional
        Chunk length of the forward-backward (default ~ sqrt of the number of bins).

    Attributes
    ----------
    weights_ : ndarray, shape (S, N, N)
        ``weights_[s, post, pre]``; for the one-hot prior, ``adjacency_ * strength_``.
    bias_ : ndarray, shape (S, N)
        Equal rows when ``share_bias``.
    transmat_, startprob_ : ndarray, shapes (S, S) and (S,)
    variance_ : ndarray, shape (S, N), or None
        Gaussian emissions only.
    adjacency_, strength_, logits_ : ndarrays (S, N, N), (S, N, N), (S, N, N, 3), or None
        One-hot prior only: argmax connectivity in {-1, 0, 1}, strengths, class logits.
    prior_ : ndarray, shape (N, N, 3), or None
        One-hot prior only: pi over (inh, none, exc).
    prior_mean_ : ndarray, shape (N, N), or None
        Gaussian prior only: W0, the mean of the states' weights.
    loglik_trace_ : ndarray
        Training log-likelihood after each EM iteration (for the one-hot prior, the last
        entry is that of the argmax model, the others of the expected weights).
    n_iter_, converged_ : int, bool
    channels_ : list of str or None
        Channel names when the training data carried them.
    """

    def __init__(self, n_states=2, prior="none", emission="poisson", link="softplus", n_lags=5,
                 *, share_bias=True, sigma0=1 / 3, tau=0.2, n_adam_steps=50, lr=0.05,
                 concentration=(0.2, 1.6, 0.2),
                 l2=1e-2, max_iter=100, tol=1e-6, newton_iter=1, init="kmeans", n_init=1,
                 pseudocount=1.0,
                 random_state=0, device="cpu", dtype="float64", chunk=None):
        self.n_states = n_states
        self.prior = prior
        self.emission = emission
        self.link = link
        self.n_lags = n_lags
        self.share_bias = share_bias
        self.sigma0 = sigma0
        self.tau = tau
        self.n_adam_steps = n_adam_steps
        self.lr = lr
        self.l2 = l2
        self.concentration = concentration
        self.max_iter = max_iter
        self.tol = tol
        self.newton_iter = newton_iter
        self.init = init
        self.n_init = n_init
        self.pseudocount = pseudocount
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
        if self.prior not in PRIORS:
            raise closest(self.prior, PRIORS, "prior")
        if self.emission not in glm.EMISSIONS:
            raise closest(self.emission, glm.EMISSIONS, "emission")
        if self.link not in glm.LINKS:
            raise closest(self.link, glm.LINKS, "link")
        if self.emission == "bernoulli" and self.link != "sigmoid":
            raise InputError(f"link={self.link!r}: Bernoulli emission needs link='sigmoid'")
        if self.link == "identity" and self.emission != "gaussian":
            raise InputError("link='identity' needs emission='gaussian'")
        for name in ("sigma0", "tau", "lr", "tol"):
            v = getattr(self, name)
            if not np.isfinite(v) or v <= 0:
                raise InputError(f"{name}={v!r}: expected a positive number")
        if self.init not in ("kmeans", "random"):
            raise closest(self.init, ("kmeans", "random"), "init")
        conc = np.asarray(self.concentration, dtype=float)
        if conc.shape != (3,) or not np.all(np.isfinite(conc)) or np.any(conc <= 0):
            raise InputError(f"concentration={self.concentration!r}: expected 3 positive numbers")
        if self.pseudocount < 0:
            raise InputError(f"pseudocount={self.pseudocount!r}: expected >= 0")
        if self.dtype not in ("float64", "float32"):
            raise closest(self.dtype, ("float64", "float32"), "dtype")
        if self.device not in ("cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise closest(self.device, ("cpu", "cuda"), "device")
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"device={self.device!r}: CUDA is not available here; use 'cpu'")

    @property
    def _tdtype(self):
        return torch.float64 if self.dtype == "float64" else torch.float32

    def _prepare(self, X, n_neurons=None):
        return prepare(X, n_lags=self.n_lags, emission=self.emission, device=self.device,
                       dtype=self._tdtype, n_neurons=n_neurons)

    # ------------------------------------------------------------------ fitting
    def fit(self, X):
        """Fit by EM.

        Parameters
        ----------
        X : array (T, N), xarray DataArray/Dataset with dims (time, channel), or a list of
            those (independent sequences, e.g. trials), all with the same N.

        Returns
        -------
        self
        """
        self._check_params()
        data, _ = self._prepare(X)
        return self._fit_prepared(data)

    def _fit_prepared(self, data):
        rng = np.random.default_rng(self.random_state)
        best = None
        for _ in range(self.n_init):
            seed = int(rng.integers(2**31))
            run = self._em(data, seed)
            if best is None or run["loglik"] > best["loglik"]:
                best = run
        self._set_attributes(best, data)
        return self

    def _init_params(self, data):
        S, N = self.n_states, data.X.shape[1]
        dt, dev = self._tdtype, data.X.device
        P = torch.full((S, S), 0.02 / max(S - 1, 1), dtype=dt, device=dev)
        P.fill_diagonal_(0.98 if S > 1 else 1.0)
        mu = data.X.mean(0)
        if self.link == "sigmoid" and self.emission == "poisson":
            mu = mu.clamp(max=0.99)
        b = glm.inverse_link(mu, self.link).expand(S, N).clone()
        var = None
        if self.emission == "gaussian":
            var = data.X.var(0).clamp(min=1e-12).expand(S, N).clone()
        return {"P": P, "p0": torch.full((S,), 1.0 / S, dtype=dt, device=dev),
                "W": torch.zeros(S, N, N, dtype=dt, device=dev), "b": b, "var": var}

    def _initial_posteriors(self, data, rng):
        if self.init == "kmeans":
            g = kmeans_posteriors(data, self.n_states, rng)
            return torch.as_tensor(g, dtype=self._tdtype, device=data.X.device)
        S = self.n_states
        labels = []
        for n in data.lengths:
            lab = np.empty(n, dtype=np.int64)
            t = 0
            while t < n:
                d = int(rng.geometric(1 / 50))
                lab[t:t + d] = rng.integers(S)
                t += d
            labels.append(lab)
        onehot_ = np.eye(S)[np.concatenate(labels)]
        gamma = 0.9 * onehot_ + 0.1 / S
        return torch.as_tensor(gamma, dtype=self._tdtype, device=data.X.device)

    def _em(self, data, seed):
        rng = np.random.default_rng(seed)
        gen = torch.Generator(device=data.X.device).manual_seed(seed)
        p = self._init_params(data)
        lay = hmm.make_layout(data.lengths, data.X.device, self.chunk)
        gamma = self._initial_posteriors(data, rng)
        xi = gamma0 = None
        oh = None
        if self.prior == "onehot":
            oh = onehot.OneHotState(self.n_states, data.X.shape[1], p["b"],
                                    share_bias=self.share_bias, lr=self.lr,
                                    dtype=self._tdtype, device=data.X.device)
        n_obs = float(data.X.numel())
        trace, converged = [], False
        for _ in range(self.max_iter):
            self._mstep(p, data, gamma, xi, gamma0, oh, gen)
            log_e = glm.log_emissions(data.X, data.H, p["W"], p["b"], self.emission,
                                      self.link, p["var"])
            gamma, xi, gamma0, ll = hmm.forward_backward(log_e, lay, p["P"], p["p0"])
            trace.append(float(ll.sum()))
            if len(trace) > 1 and abs(trace[-1] - trace[-2]) / n_obs < self.tol:
                converged = True
                break
        if oh is not None:  # the fitted model is the argmax connectivity; its log-likelihood
            p["W"] = oh.weights("hard")  # ends the trace
            log_e = glm.log_emissions(data.X, data.H, p["W"], p["b"], self.emission,
                                      self.link, p["var"])
            trace.append(float(hmm.log_likelihood(log_e, lay, p["P"], p["p0"]).sum()))
            p["adjacency"], p["prior"] = oh.adjacency(), oh.prior()
            p["logits"], p["strength"] = oh.alpha.detach(), torch.nn.functional.softplus(
                oh.eta.detach())
        return {"params": p, "trace": trace, "converged": converged, "loglik": trace[-1]}

    def _mstep(self, p, data, gamma, xi, gamma0, oh, gen):
        if xi is not None:
            counts = xi + self.pseudocount
            p["P"] = counts / counts.sum(1, keepdim=True)
            start = gamma0.sum(0) + self.pseudocount
            p["p0"] = start / start.sum()
        if oh is not None:
            onehot.mstep(oh, data.X, data.H, gamma, n_steps=self.n_adam_steps, tau=self.tau,
                         generator=gen, emission=self.emission, link=self.link, var=p["var"],
                         l2=self.l2, concentration=self.concentration)
            # the E-step uses the expected weights (with the argmax, every connection is
            # "none" at the start and the states would look alike); the fit reports the argmax
            p["W"], p["b"] = oh.weights("mean"), oh.bias_full().detach().clone()
        else:
            # the Gaussian prior and the ridge combine into one quadratic around prior_mean
            prior_mean, prec = torch.zeros_like(p["W"][0]), float(self.l2)
            if self.prior == "gaussian":
                p0_prec = 1.0 / self.sigma0**2
                p["prior_mean"] = p["W"].mean(0)
                prec = p0_prec + self.l2
                prior_mean = p0_prec * p["prior_mean"] / prec
            p["W"], p["b"], _ = glm.newton_step(
                data.X, data.H, gamma, p["W"], p["b"], emission=self.emission, link=self.link,
                var=p["var"], share_bias=self.share_bias, prior_mean=prior_mean,
                prior_prec=prec, max_iter=self.newton_iter, tol=1e-4)
            if self.prior == "gaussian":
                p["prior_mean"] = p["W"].mean(0)
        if self.emission == "gaussian":
            floor = 1e-6 * float(data.X.var(0).mean().clamp(min=1e-12))
            p["var"] = glm.update_variance(data.X, data.H, gamma, p["W"], p["b"], self.link,
                                           floor)

    def _set_attributes(self, run, data):
        p = run["params"]
        np_ = {k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v)
               for k, v in p.items()}
        self.weights_ = np_["W"]
        self.bias_ = np_["b"]
        self.transmat_ = np_["P"]
        self.startprob_ = np_["p0"]
        self.variance_ = np_["var"]
        self.adjacency_ = np_.get("adjacency")
        if self.adjacency_ is not None:
            self.adjacency_ = self.adjacency_.astype(np.int8)
        self.prior_ = np_.get("prior")
        self.logits_ = np_.get("logits")
        self.strength_ = np_.get("strength")
        self.prior_mean_ = np_.get("prior_mean")
        self.loglik_trace_ = np.asarray(run["trace"])
        self.n_iter_ = len(run["trace"])
        self.converged_ = bool(run["converged"])
        self.n_neurons_ = int(data.X.shape[1])
        self.channels_ = data.channels

    @classmethod
    def from_params(cls, weights, bias, transmat, startprob=None, variance=None, **params):
        """A model with given parameters (e.g. the ground truth of a simulation), ready to score.

        ``bias`` may be (N,) (shared) or (S, N); ``startprob`` defaults to uniform.
        """
        W = np.asarray(weights, dtype=np.float64)
        if W.ndim != 3 or W.shape[1] != W.shape[2]:
            raise InputError(f"weights: expected shape (S, N, N), got {W.shape}")
        S, N, _ = W.shape
        m = cls(n_states=S, **params)
        m._check_params()
        m.weights_ = W
        m.bias_ = np.broadcast_to(np.asarray(bias, dtype=np.float64), (S, N)).copy()
        m.transmat_ = np.asarray(transmat, dtype=np.float64)
        m.startprob_ = (np.full(S, 1.0 / S) if startprob is None
                        else np.asarray(startprob, dtype=np.float64))
        m.variance_ = None if variance is None else np.broadcast_to(variance, (S, N)).copy()
        m.adjacency_ = m.prior_ = m.logits_ = m.strength_ = m.prior_mean_ = None
        m.loglik_trace_ = np.zeros(0)
        m.n_iter_, m.converged_, m.n_neurons_, m.channels_ = 0, True, N, None
        return m

    # ------------------------------------------------------------------ inference
    def _fitted(self):
        if not hasattr(self, "weights_"):
            raise InputError("GLMHMM is not fitted yet: call fit() first")
        t = {k: torch.as_tensor(getattr(self, k), dtype=self._tdtype, device=self.device)
             for k in ("weights_", "bias_", "transmat_", "startprob_")}
        var = None if self.variance_ is None else torch.as_tensor(
            self.variance_, dtype=self._tdtype, device=self.device)
        return t["weights_"], t["bias_"], t["transmat_"], t["startprob_"], var

    def _infer(self, X):
        W, b, P, p0, var = self._fitted()
        data, is_list = self._prepare(X, n_neurons=W.shape[1])
        log_e = glm.log_emissions(data.X, data.H, W, b, self.emission, self.link, var)
        lay = hmm.make_layout(data.lengths, data.X.device, self.chunk)
        return data, is_list, log_e, lay, P, p0

    def _score_prepared(self, data) -> float:
        W, b, P, p0, var = self._fitted()
        log_e = glm.log_emissions(data.X, data.H, W, b, self.emission, self.link, var)
        lay = hmm.make_layout(data.lengths, data.X.device, self.chunk)
        return float(hmm.log_likelihood(log_e, lay, P, p0).sum()) / data.X.numel()

    def score(self, X) -> float:
        """Log-likelihood of ``X`` (marginalised over states) per bin and neuron."""
        W = self._fitted()[0]
        data, _ = self._prepare(X, n_neurons=W.shape[1])
        return self._score_prepared(data)

    def predict_proba(self, X):
        """Posterior state probabilities: (T, S) per sequence (a list for a list input)."""
        data, is_list, log_e, lay, P, p0 = self._infer(X)
        gamma = hmm.forward_backward(log_e, lay, P, p0)[0].cpu().numpy()
        return split(gamma, data.lengths, is_list)

    def predict(self, X):
        """Viterbi state path: (T,) int per sequence (a list for a list input)."""
        data, is_list, log_e, lay, P, p0 = self._infer(X)
        return split(hmm.viterbi(log_e, lay, P, p0), data.lengths, is_list)

    def decode(self, X):
        """One inference pass: (Viterbi paths, posteriors, log-likelihood per bin and neuron),
        i.e. :meth:`predict`, :meth:`predict_proba` and :meth:`score` of ``X`` together."""
        data, is_list, log_e, lay, P, p0 = self._infer(X)
        gamma, _, _, loglik = hmm.forward_backward(log_e, lay, P, p0)
        paths = split(hmm.viterbi(log_e, lay, P, p0), data.lengths, is_list)
        probs = split(gamma.cpu().numpy(), data.lengths, is_list)
        return paths, probs, float(loglik.sum()) / data.X.numel()

    # ------------------------------------------------------------------ export
    def to_xarray(self) -> xr.Dataset:
        """The fitted model as a Dataset with named dims (state, post, pre, ...), for .nc."""
        self._fitted()
        S, N = self.weights_.shape[:2]
        names = self.channels_ or [f"n{i}" for i in range(N)]
        coords = {"state": np.arange(S), "next_state": np.arange(S),
                  "post": np.asarray(names, dtype=object), "pre": np.asarray(names, dtype=object),
                  "iteration": np.arange(len(self.loglik_trace_))}
        dv = {
            "weights": (("state", "post", "pre"), self.weights_),
            "bias": (("state", "post"), self.bias_),
            "transmat": (("state", "next_state"), self.transmat_),
            "startprob": (("state",), self.startprob_),
            "loglik_trace": (("iteration",), self.loglik_trace_),
        }
        if self.variance_ is not None:
            dv["variance"] = (("state", "post"), self.variance_)
        if self.adjacency_ is not None:
            dv["adjacency"] = (("state", "post", "pre"), self.adjacency_)
            dv["prior"] = (("post", "pre", "connection"), self.prior_)
            coords["connection"] = np.asarray(onehot.CLASSES, dtype=object)
        if self.prior_mean_ is not None:
            dv["prior_mean"] = (("post", "pre"), self.prior_mean_)
        attrs = {k: getattr(self, k) for k in ("n_states", "prior", "emission", "link", "n_lags",
                                               "sigma0", "tau", "pseudocount")}
        attrs.update(share_bias=int(self.share_bias), n_iter=int(self.n_iter_),
                     converged=int(self.converged_),
                     random_state=-1 if self.random_state is None else int(self.random_state))
        return xr.Dataset(dv, coords=coords, attrs=attrs)
