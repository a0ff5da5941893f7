"""Hidden Markov chain inference in torch: forward-backward, log-likelihood and Viterbi.

Every sequence is cut into chunks of ``chunk`` bins (the last chunk of a sequence padded
and masked), and all chunks of all sequences are processed at once:

1. each chunk's *transfer* (how its first state maps to its last one, given its
   emissions) is computed for every chunk in parallel, from the S basis states;
2. the messages are carried across chunk boundaries sequentially (one small step per chunk);
3. each chunk is re-run from its correct incoming message, again all chunks in parallel.

This is the ordinary scaled forward-backward re-associated, so the numbers are exact, but
the Python loop has about ``2 * chunk + n_chunks`` steps instead of the sequence length,
and memory is O(T S). Log-emissions come in as a ``(T, S)`` tensor of concatenated
sequences; :class:`Layout` maps them to chunks and back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Layout:
    """Where each bin of the concatenated sequences sits in the ``(n_chunks, chunk)`` grid."""

    index: torch.Tensor  # (C, L) long: row of the concatenated array, 0 where padded
    mask: torch.Tensor  # (C, L) bool: True on real bins
    first: torch.Tensor  # (C,) bool: the chunk starts a sequence
    last: torch.Tensor  # (C,) bool: the chunk ends a sequence
    seq_of_chunk: np.ndarray  # (C,) int: sequence of each chunk
    lengths: np.ndarray  # (B,) int: bins per sequence

    @property
    def n_chunks(self) -> int:
        return int(self.index.shape[0])


def make_layout(lengths, device="cpu", chunk: int | None = None) -> Layout:
    """Chunk layout for sequences of the given lengths (chunk ~ sqrt of the total by default)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if chunk is None:
        chunk = int(min(lengths.max(), max(16, math.ceil(math.sqrt(lengths.sum())))))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    rows, masks, first, last, seq = [], [], [], [], []
    for b, (s0, n) in enumerate(zip(starts, lengths, strict=True)):
        n_ch = math.ceil(n / chunk)
        pos = np.arange(n_ch * chunk)
        valid = pos < n
        rows.append(np.where(valid, s0 + pos, 0).reshape(n_ch, chunk))
        masks.append(valid.reshape(n_ch, chunk))
        f = np.zeros(n_ch, bool)
        f[0] = True
        ll = np.zeros(n_ch, bool)
        ll[-1] = True
        first.append(f)
        last.append(ll)
        seq.append(np.full(n_ch, b))
    return Layout(
        index=torch.as_tensor(np.concatenate(rows), device=device),
        mask=torch.as_tensor(np.concatenate(masks), device=device),
        first=torch.as_tensor(np.concatenate(first), device=device),
        last=torch.as_tensor(np.concatenate(last), device=device),
        seq_of_chunk=np.concatenate(seq),
        lengths=lengths,
    )


def _scaled_emissions(log_e: torch.Tensor, lay: Layout):
    """Chunked emissions divided by their per-bin maximum: (C, L, S), and the maxima (C, L)."""
    le = log_e[lay.index]
    m = le.max(dim=-1).values
    m = torch.where(lay.mask, m, torch.zeros_like(m))
    e = torch.exp(le - m[..., None])
    e = torch.where(lay.mask[..., None], e, torch.ones_like(e))
    return e, m


def _forward_transfer(e, m, lay, P, p0):
    """Pass 1: for each chunk and start basis state j, the normalised end message and its log-scale."""
    C, L, S = e.shape
    R = torch.eye(S, dtype=e.dtype, device=e.device).expand(C, S, S).clone()
    logr = torch.zeros(C, S, dtype=e.dtype, device=e.device)
    for t in range(L):
        prop = R @ P
        if t == 0:
            prop = torch.where(lay.first[:, None, None], p0.expand(C, S, S), prop)
        new = prop * e[:, t, None, :]
        new = torch.where(lay.mask[:, t, None, None], new, R)
        z = new.sum(-1)
        R = new / z[..., None]
        logr = logr + torch.log(z) + m[:, t, None]
    return R, logr


def _carry_forward(R, logr, lay):
    """Pass 2: incoming message of every chunk and each chunk's log-likelihood increment."""
    C, S, _ = R.shape
    logR = torch.log(R) + logr[..., None]
    a_in = torch.empty(C, S, dtype=R.dtype, device=R.device)
    ll = torch.empty(C, dtype=R.dtype, device=R.device)
    first = lay.first.tolist()
    uniform = torch.full((S,), 1.0 / S, dtype=R.dtype, device=R.device)
    a = uniform
    for c in range(C):
        if first[c]:
            a = uniform  # the rows of a first chunk's transfer are equal: any start will do
        a_in[c] = a
        out = torch.logsumexp(torch.log(a)[:, None] + logR[c], dim=0)
        ll[c] = torch.logsumexp(out, dim=0)
        a = torch.exp(out - ll[c])
    return a_in, ll


def log_likelihood(log_e: torch.Tensor, lay: Layout, P, p0) -> torch.Tensor:
    """Log-likelihood of every sequence, shape (B,), marginalised over the hidden states.

    Parameters
    ----------
    log_e : tensor, shape (T, S)
        Log-probability of each bin's observations under each state (concatenated sequences).
    lay : Layout
    P : tensor, shape (S, S)
        Transition matrix, rows summing to 1.
    p0 : tensor, shape (S,)
        Initial state distribution.
    """
    e, m = _scaled_emissions(log_e, lay)
    R, logr = _forward_transfer(e, m, lay, P, p0)
    _, ll = _carry_forward(R, logr, lay)
    seq = torch.as_tensor(lay.seq_of_chunk, device=ll.device)
    return torch.zeros(len(lay.lengths), dtype=ll.dtype, device=ll.device).index_add_(0, seq, ll)


def forward_backward(log_e: torch.Tensor, lay: Layout, P, p0):
    """Posteriors of the hidden states (E-step).

    Returns
    -------
    gamma : tensor, shape (T, S)
        p(z_t | all bins of t's sequence).
    xi_sum : tensor, shape (S, S)
        Expected number of transitions i -> j, summed over all bins and sequences.
    gamma0 : tensor, shape (B, S)
        Posterior of the first state of each sequence.
    loglik : tensor, shape (B,)
        Log-likelihood of each sequence.
    """
    e, m = _scaled_emissions(log_e, lay)
    C, L, S = e.shape
    R, logr = _forward_transfer(e, m, lay, P, p0)
    a_in, ll_chunk = _carry_forward(R, logr, lay)

    # pass 3, forward: alpha within each chunk from its incoming message
    alpha = torch.empty_like(e)
    a = a_in
    for t in range(L):
        prop = a @ P
        if t == 0:
            prop = torch.where(lay.first[:, None], p0.expand(C, S), prop)
        new = prop * e[:, t]
        new = new / new.sum(-1, keepdim=True)
        a = torch.where(lay.mask[:, t, None], new, a)
        alpha[:, t] = a

    # backward passes, mirror images: transfer from a chunk's end to the previous chunk's end
    ones = torch.ones(C, S, S, dtype=e.dtype, device=e.device)
    B = torch.where(lay.last[:, None, None], ones, torch.eye(S, dtype=e.dtype, device=e.device))
    logb = torch.zeros(C, S, dtype=e.dtype, device=e.device)
    for t in range(L - 1, -1, -1):
        new = P @ (e[:, t, :, None] * B)
        new = torch.where(lay.mask[:, t, None, None], new, B)
        z = new.sum(-2)
        B = new / z[:, None, :]
        logb = logb + torch.log(z) + m[:, t, None]
    logB = torch.log(B) + logb[:, None, :]
    b_in = torch.empty(C, S, dtype=e.dtype, device=e.device)
    last = lay.last.tolist()
    uniform = torch.full((S,), 1.0 / S, dtype=e.dtype, device=e.device)
    b = uniform
    for c in range(C - 1, -1, -1):
        if last[c]:
            b = uniform
        b_in[c] = b
        out = torch.logsumexp(logB[c] + torch.log(b)[None, :], dim=1)
        b = torch.exp(out - torch.logsumexp(out, dim=0))
    beta = torch.empty_like(e)
    b = b_in
    for t in range(L - 1, -1, -1):
        beta[:, t] = b
        new = (e[:, t] * b) @ P.T
        new = new / new.sum(-1, keepdim=True)
        b = torch.where(lay.mask[:, t, None], new, b)

    g = alpha * beta
    g = g / g.sum(-1, keepdim=True)
    gamma = torch.zeros(log_e.shape, dtype=e.dtype, device=e.device)
    gamma[lay.index[lay.mask]] = g[lay.mask]

    # expected transitions: sum_t alpha_{t-1} (x) (e_t * beta_t) * P / normaliser_t
    a_prev = torch.cat([a_in[:, None], alpha[:, :-1]], dim=1)
    v = e * beta
    norm = ((a_prev @ P) * v).sum(-1)
    valid = lay.mask.clone()
    valid[:, 0] &= ~lay.first
    w = torch.where(valid[..., None], v / norm[..., None], torch.zeros_like(v))
    xi_sum = P * (a_prev.reshape(-1, S).T @ w.reshape(-1, S))

    gamma0 = g[lay.first, 0]
    seq = torch.as_tensor(lay.seq_of_chunk, device=e.device)
    loglik = torch.zeros(len(lay.lengths), dtype=e.dtype, device=e.device).index_add_(
        0, seq, ll_chunk
    )
    return gamma, xi_sum, gamma0, loglik


def viterbi(log_e: torch.Tensor, lay: Layout, P, p0) -> np.ndarray:
    """Most probable state path of every sequence, concatenated: int array of shape (T,)."""
    C, L = lay.index.shape
    S = P.shape[0]
    le = log_e[lay.index]
    le = torch.where(lay.mask[..., None], le, torch.zeros_like(le))
    logP = torch.log(P)
    logp0 = torch.log(p0)
    dt = le.dtype
    # pass 1: max-plus transfer of each chunk from each start state
    V = torch.full((C, S, S), -torch.inf, dtype=dt, device=le.device)
    V[:, torch.arange(S), torch.arange(S)] = 0.0
    for t in range(L):
        new = (V[:, :, :, None] + logP).amax(dim=2)
        if t == 0:
            new = torch.where(lay.first[:, None, None], logp0.expand(C, S, S), new)
        new = new + le[:, t, None, :]
        V = torch.where(lay.mask[:, t, None, None], new, V)
    # pass 2: best score of each state at the end of the previous chunk
    d_in = torch.empty(C, S, dtype=dt, device=le.device)
    first = lay.first.tolist()
    d = torch.zeros(S, dtype=dt, device=le.device)
    for c in range(C):
        if first[c]:
            d = torch.zeros(S, dtype=dt, device=le.device)
        d_in[c] = d
        d = (d[:, None] + V[c]).amax(dim=0)
        d = d - d.max()
    # pass 3: Viterbi inside each chunk with back-pointers
    ident = torch.arange(S, device=le.device).expand(C, S)
    bp = torch.empty(C, L, S, dtype=torch.long, device=le.device)
    delta = d_in
    for t in range(L):
        best, arg = (delta[:, :, None] + logP).max(dim=1)
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
    paths_np = paths.cpu().numpy()
    bp0 = bp[:, 0].cpu().numpy()
    end_np = delta.argmax(dim=1).cpu().numpy()
    last = lay.last.tolist()
    chosen = np.empty(C, dtype=np.int64)
    end = 0
    for c in range(C - 1, -1, -1):
        if last[c]:
            end = end_np[c]
        chosen[c] = end
        end = bp0[c, paths_np[c, 0, end]]
    out = np.empty(int(lay.lengths.sum()), dtype=np.int64)
    mask = lay.mask.cpu().numpy()
    grid = paths_np[np.arange(C), :, chosen]  # (C, L)
    out[lay.index.cpu().numpy()[mask]] = grid[mask]
    return out
