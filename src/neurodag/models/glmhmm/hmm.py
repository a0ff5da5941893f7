"""Hidden Markov chain inference in torch: forward-backward, log-likelihood and Viterbi.

Every sequence is cut into chunks of ``chunk`` bins (the last chunk of a sequence padded
and masked), and all chunks of all sequences are processed at once:

1. each chunk's *transfer* (how its first state maps to its last one, given its
   emissions) is computed for every chunk in parallel, from the S basis states;
2. the messages are carried across chunk boundaries: one small step per chunk position,
   all sequences at once;
3. each chunk is re-run from its correct incoming message, again all chunks in parallel.

This is the ordinary scaled forward-backward re-associated, so the numbers are exact, but
the Python loop has about ``4 * chunk + 2 * chunks per sequence`` steps instead of the
sequence length (the default chunk, ~sqrt(longest / 2), minimises that), and memory is
O(T S). Log-emissions come in as a ``(T, S)`` tensor of concatenated sequences;
:class:`Layout` maps them to chunks and back.

Transitions are either one ``(S, S)`` matrix or one per bin, ``(T, S, S)`` (row ``t``:
from bin ``t - 1`` into bin ``t``; the row of a sequence's first bin is not used), for
transitions driven by inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

#: Longest sequence processed whole by default (see :func:`make_layout`).
WHOLE = 400


@dataclass
class Layout:
    """Where each bin of the concatenated sequences sits in the ``(n_chunks, chunk)`` grid."""

    index: torch.Tensor  # (C, L) long: row of the concatenated array, 0 where padded
    mask: torch.Tensor  # (C, L) bool: True on real bins
    first: torch.Tensor  # (C,) bool: the chunk starts a sequence
    last: torch.Tensor  # (C,) bool: the chunk ends a sequence
    grid: torch.Tensor  # (B, J) long: chunk id of each sequence's j-th chunk (sequences
    #                     sorted by decreasing number of chunks; 0 where a sequence is over)
    active: list  # active[j]: number of sequences (a prefix of grid's rows) with a chunk j
    seq_of_chunk: torch.Tensor  # (C,) long: sequence of each chunk (input order)
    lengths: np.ndarray  # (B,) int: bins per sequence

    @property
    def n_chunks(self) -> int:
        return int(self.index.shape[0])


def make_layout(lengths, device="cpu", chunk: int | None = None) -> Layout:
    """Chunk layout for sequences of the given lengths.

    By default, whole sequences (one chunk each: no transfer passes, see
    :func:`forward_backward`) when none is longer than :data:`WHOLE` bins (trials,
    sessions of choices), else chunks of ~sqrt(longest / 2) bins (measured here: the
    faster of the two on either side of that length).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    longest = int(lengths.max())
    if chunk is None:
        chunk = longest if longest <= WHOLE else max(8, math.ceil(math.sqrt(longest / 2)))
    chunk = int(min(longest, chunk))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    n_ch = -(-lengths // chunk)
    first_id = np.concatenate([[0], np.cumsum(n_ch)[:-1]])
    rows, masks, seq = [], [], []
    for s0, n, k in zip(starts, lengths, n_ch, strict=True):
        pos = np.arange(k * chunk)
        valid = pos < n
        rows.append(np.where(valid, s0 + pos, 0).reshape(k, chunk))
        masks.append(valid.reshape(k, chunk))
    seq = np.repeat(np.arange(len(lengths)), n_ch)
    first = np.zeros(n_ch.sum(), bool)
    first[first_id] = True
    last = np.zeros(n_ch.sum(), bool)
    last[first_id + n_ch - 1] = True
    order = np.argsort(-n_ch, kind="stable")
    J = int(n_ch.max())
    grid = np.zeros((len(lengths), J), np.int64)
    for r, b in enumerate(order):
        grid[r, :n_ch[b]] = first_id[b] + np.arange(n_ch[b])
    active = [int((n_ch > j).sum()) for j in range(J)]
    return Layout(
        index=torch.as_tensor(np.concatenate(rows), device=device),
        mask=torch.as_tensor(np.concatenate(masks), device=device),
        first=torch.as_tensor(first, device=device),
        last=torch.as_tensor(last, device=device),
        grid=torch.as_tensor(grid, device=device),
        active=active,
        seq_of_chunk=torch.as_tensor(seq, device=device),
        lengths=lengths,
    )


def _per_bin(P, lay):
    """Transitions on the time-major chunk grid: ``(L, C, S, S)``, or None when stationary."""
    return None if P.dim() == 2 else P[lay.index.T]


def _scaled_emissions(log_e: torch.Tensor, lay: Layout):
    """Emissions on the time-major chunk grid divided by their per-bin maximum, (L, C, S),
    and the log of those maxima summed over each chunk, (C,). Padded bins get e = 1.

    With e = 1 a padded bin changes no normalised message (the transitions are row-
    stochastic), and padding only ever follows a sequence's last real bin: the recursions
    below need no masks."""
    le = log_e[lay.index.T]
    m = le.amax(dim=-1, keepdim=True)
    mask = lay.mask.T[..., None]
    e = torch.where(mask, torch.exp(le - m), torch.ones_like(le))
    return e, torch.where(mask[..., 0], m[..., 0], torch.zeros_like(m[..., 0])).sum(0)


def _step(msg, P, Pt):
    """msg @ P for a batch of row messages (..., S) or matrices (C, S, S)."""
    if Pt is None:
        return (msg.reshape(-1, P.shape[0]) @ P).reshape(msg.shape)
    return torch.bmm(msg, Pt) if msg.dim() == 3 else torch.bmm(msg[:, None], Pt)[:, 0]


def _forward_transfer(e, lay, P, Pg, p0):
    """Pass 1: for each chunk and start basis state, the normalised end message and the
    log of its scale (without the emission maxima)."""
    L, C, S = e.shape
    R = torch.eye(S, dtype=e.dtype, device=e.device).expand(C, S, S).clone()
    logr = torch.zeros(C, S, dtype=e.dtype, device=e.device)
    for t in range(L):
        R = _step(R, P, None if Pg is None else Pg[t])
        if t == 0:
            R = torch.where(lay.first[:, None, None], p0.expand(C, S, S), R)
        R = R * e[t, :, None, :]
        z = R.sum(-1)
        R = R / z[..., None]
        logr += torch.log(z)
    return R, logr


def _carry(logT, lay):
    """Pass 2: the message entering every chunk, carried across chunks (all sequences at once).

    ``logT[c]`` is the log transfer of chunk c (forward: start state x end state; backward:
    its transpose), visited in the order of ``lay.grid``'s columns (reversed by the caller
    for the backward pass). Returns the incoming messages (C, S) and each chunk's
    log-normaliser (C,).
    """
    C, S, _ = logT.shape
    inc = torch.empty(C, S, dtype=logT.dtype, device=logT.device)
    lognorm = torch.empty(C, dtype=logT.dtype, device=logT.device)
    # each row of ``msg`` is one sequence, starting uniform: the first chunk's transfer rows
    # are all equal (it starts from p0), and the last chunk's backward transfer sums all ends
    msg = torch.full((lay.grid.shape[0], S), 1.0 / S, dtype=logT.dtype, device=logT.device)
    return inc, lognorm, msg


def _carry_forward(logT, lay):
    inc, lognorm, msg = _carry(logT, lay)
    for j, k in enumerate(lay.active):
        _carry_one(logT, lay.grid[:k, j], msg, k, inc, lognorm)
    return inc, lognorm


def _carry_backward(logT, lay):
    inc, lognorm, msg = _carry(logT, lay)
    for j in range(len(lay.active) - 1, -1, -1):
        k = lay.active[j]
        _carry_one(logT, lay.grid[:k, j], msg, k, inc, lognorm)
    return inc, lognorm


def _carry_one(logT, cid, msg, k, inc, lognorm):
    inc[cid] = msg[:k]
    out = torch.logsumexp(torch.log(msg[:k])[:, :, None] + logT[cid], dim=1)
    z = torch.logsumexp(out, dim=-1)
    lognorm[cid] = z
    msg[:k] = torch.exp(out - z[:, None])


def _per_sequence(values, lay, n_seq):
    return torch.zeros(n_seq, dtype=values.dtype, device=values.device).index_add_(
        0, lay.seq_of_chunk, values)


def _whole(lay) -> bool:
    """Every sequence is one chunk: messages start from p0 (and uniform at the end)."""
    return lay.grid.shape[1] == 1


def _forward(log_e, lay, P, p0):
    """Emissions, per-bin transitions, incoming messages and log-normaliser of each chunk;
    with whole sequences, also alpha (computed on the way: no transfer pass)."""
    e, msum = _scaled_emissions(log_e, lay)
    Pg = _per_bin(P, lay)
    if _whole(lay):
        L, C, S = e.shape
        alpha = torch.empty_like(e)
        logz = torch.zeros(C, dtype=e.dtype, device=e.device)
        a = p0.expand(C, S)
        for t in range(L):
            if t:
                a = _step(a, P, None if Pg is None else Pg[t])
            a = a * e[t]
            z = a.sum(-1, keepdim=True)
            a = a / z
            logz += torch.log(z[:, 0])
            alpha[t] = a
        return e, Pg, None, logz + msum, alpha
    R, logr = _forward_transfer(e, lay, P, Pg, p0)
    a_in, ll_chunk = _carry_forward(torch.log(R) + logr[..., None], lay)
    return e, Pg, a_in, ll_chunk + msum, None


def log_likelihood(log_e: torch.Tensor, lay: Layout, P, p0) -> torch.Tensor:
    """Log-likelihood of every sequence, shape (B,), marginalised over the hidden states.

    Parameters
    ----------
    log_e : tensor, shape (T, S)
        Log-probability of each bin's observations under each state (concatenated sequences).
    lay : Layout
    P : tensor, shape (S, S) or (T, S, S)
        Transition matrix (rows summing to 1), or one per bin.
    p0 : tensor, shape (S,)
        Initial state distribution.
    """
    ll = _forward(log_e, lay, P, p0)[3]
    return _per_sequence(ll, lay, len(lay.lengths))


def forward_backward(log_e: torch.Tensor, lay: Layout, P, p0, per_bin_xi: bool = False):
    """Posteriors of the hidden states (E-step).

    Parameters
    ----------
    log_e, lay, P, p0
        As in :func:`log_likelihood`.
    per_bin_xi : bool
        Return the expected transitions of every bin instead of their sum.

    Returns
    -------
    gamma : tensor, shape (T, S)
        p(z_t | all bins of t's sequence).
    xi : tensor, shape (S, S), or (T, S, S) with ``per_bin_xi``
        Expected number of transitions i -> j, summed over all bins and sequences (or into
        each bin; zero at a sequence's first bin).
    gamma0 : tensor, shape (B, S)
        Posterior of the first state of each sequence.
    loglik : tensor, shape (B,)
        Log-likelihood of each sequence.
    """
    e, Pg, a_in, ll_chunk, alpha = _forward(log_e, lay, P, p0)
    L, C, S = e.shape
    PT = P.T if Pg is None else None
    if alpha is None:
        # pass 3, forward: alpha within each chunk from its incoming message
        alpha = torch.empty_like(e)
        a = a_in
        for t in range(L):
            a = _step(a, P, None if Pg is None else Pg[t])
            if t == 0:
                a = torch.where(lay.first[:, None], p0.expand(C, S), a)
            a = a * e[t]
            a = a / a.sum(-1, keepdim=True)
            alpha[t] = a
        # backward passes, mirror images: transfer from a chunk's end to the previous
        # chunk's end
        ones = torch.ones(C, S, S, dtype=e.dtype, device=e.device)
        B = torch.where(lay.last[:, None, None], ones,
                        torch.eye(S, dtype=e.dtype, device=e.device))
        logb = torch.zeros(C, S, dtype=e.dtype, device=e.device)
        for t in range(L - 1, -1, -1):
            # B^T <- (e_t * B)^T P_t^T: the transposed transfer, so that the same
            # row-message product applies
            B = _step((e[t, :, :, None] * B).transpose(1, 2), PT,
                      None if Pg is None else Pg[t].transpose(1, 2)).transpose(1, 2)
            z = B.sum(-2)
            B = B / z[:, None, :]
            logb += torch.log(z)
        b_in, _ = _carry_backward((torch.log(B) + logb[:, None, :]).transpose(1, 2), lay)
    else:
        b_in = torch.full((C, S), 1.0 / S, dtype=e.dtype, device=e.device)
        a_in = torch.full((C, S), 1.0 / S, dtype=e.dtype, device=e.device)  # unused (first)
    beta = torch.empty_like(e)
    b = b_in
    for t in range(L - 1, -1, -1):
        beta[t] = b
        b = _step(e[t] * b, PT, None if Pg is None else Pg[t].transpose(1, 2))
        b = b / b.sum(-1, keepdim=True)

    g = alpha * beta
    g = g / g.sum(-1, keepdim=True)
    maskT = lay.mask.T
    rows = lay.index.T[maskT]
    gamma = torch.zeros(log_e.shape, dtype=e.dtype, device=e.device)
    gamma[rows] = g[maskT]

    # expected transitions: alpha_{t-1} (x) (e_t * beta_t) * P_t / normaliser_t
    a_prev = torch.cat([a_in[None], alpha[:-1]], dim=0)
    v = e * beta
    valid = maskT.clone()
    valid[0] &= ~lay.first
    if Pg is None and not per_bin_xi:
        norm = (_step(a_prev, P, None) * v).sum(-1)
        w = torch.where(valid[..., None], v / norm[..., None], torch.zeros_like(v))
        xi = P * (a_prev.reshape(-1, S).T @ w.reshape(-1, S))
    else:
        joint = a_prev[..., :, None] * (P if Pg is None else Pg) * v[..., None, :]
        joint = joint / joint.sum((-2, -1), keepdim=True)
        joint = torch.where(valid[..., None, None], joint, torch.zeros_like(joint))
        if per_bin_xi:
            xi = torch.zeros(log_e.shape[0], S, S, dtype=e.dtype, device=e.device)
            xi[rows] = joint[maskT]
        else:
            xi = joint.sum((0, 1))

    gamma0 = g[0, lay.first]
    return gamma, xi, gamma0, _per_sequence(ll_chunk, lay, len(lay.lengths))


def viterbi(log_e: torch.Tensor, lay: Layout, P, p0) -> np.ndarray:
    """Most probable state path of every sequence, concatenated: int array of shape (T,)."""
    C, L = lay.index.shape
    S = p0.shape[0]
    le = log_e[lay.index]
    le = torch.where(lay.mask[..., None], le, torch.zeros_like(le))
    logP = torch.log(P)
    logPg = _per_bin(logP, lay)
    logp0 = torch.log(p0)
    dt = le.dtype

    def step_logp(t):
        return logP if logPg is None else logPg[t]

    d_in = torch.zeros(C, S, dtype=dt, device=le.device)
    if not _whole(lay):
        # pass 1: max-plus transfer of each chunk from each start state
        V = torch.full((C, S, S), -torch.inf, dtype=dt, device=le.device)
        V[:, torch.arange(S), torch.arange(S)] = 0.0
        for t in range(L):
            lp = step_logp(t)
            new = (V[:, :, :, None] + (lp if lp.dim() == 2 else lp[:, None])).amax(dim=2)
            if t == 0:
                new = torch.where(lay.first[:, None, None], logp0.expand(C, S, S), new)
            new = new + le[:, t, None, :]
            V = torch.where(lay.mask[:, t, None, None], new, V)
        # pass 2: best score of each state at the end of the previous chunk, all sequences
        d = torch.zeros(lay.grid.shape[0], S, dtype=dt, device=le.device)
        for j, k in enumerate(lay.active):
            cid = lay.grid[:k, j]
            d_in[cid] = d[:k]
            nd = (d[:k, :, None] + V[cid]).amax(dim=1)
            d[:k] = nd - nd.amax(-1, keepdim=True)
    # pass 3: Viterbi inside each chunk with back-pointers
    ident = torch.arange(S, device=le.device).expand(C, S)
    bp = torch.empty(C, L, S, dtype=torch.long, device=le.device)
    delta = d_in
    for t in range(L):
        lp = step_logp(t)
        best, arg = (delta[:, :, None] + lp).max(dim=1)
        if t == 0:
            best = torch.where(lay.first[:, None], logp0.expand(C, S), best)
        new = best + le[:, t]
        delta = torch.where(lay.mask[:, t, None], new, delta)
        bp[:, t] = torch.where(lay.mask[:, t, None], arg, ident)
    # every chunk's path back from every end state, then the chunks chained from the last
    paths = torch.empty(C, L, S, dtype=torch.long, device=le.device)
    state = ident.clone()
    for t in range(L - 1, -1, -1):
        paths[:, t] = state
        if t > 0:
            state = torch.gather(bp[:, t], 1, state)
    chosen = torch.empty(C, dtype=torch.long, device=le.device)
    end_best = delta.argmax(dim=1)
    end = torch.zeros(lay.grid.shape[0], dtype=torch.long, device=le.device)
    for j in range(len(lay.active) - 1, -1, -1):
        k = lay.active[j]
        cid = lay.grid[:k, j]
        e_ = torch.where(lay.last[cid], end_best[cid], end[:k])
        chosen[cid] = e_
        start = paths[cid, 0].gather(1, e_[:, None])[:, 0]
        end[:k] = bp[cid, 0].gather(1, start[:, None])[:, 0]
    grid = paths.gather(2, chosen[:, None, None].expand(C, L, 1))[..., 0]
    out = torch.empty(int(lay.lengths.sum()), dtype=torch.long, device=le.device)
    out[lay.index[lay.mask]] = grid[lay.mask]
    return out.cpu().numpy()
