"""The one-hot prior of the GLM-HMM (Li et al., ICLR 2024), relaxed with Gumbel-softmax.

Each state's weights are ``W_s = (A_exc - A_inh) * softplus(eta_s)`` where ``A_s[n, m]`` is
one-hot over (inhibitory, none, excitatory). The variational posterior of ``A_s[n, m]`` is
categorical with logits ``alpha_s[n, m]`` (S, N, N, 3); the prior ``pi = softmax(beta)``
(N, N, 3) is shared by all states. The M-step maximises

    E_q[ sum_t sum_s gamma_ts log p(x_t | W_s) ] - sum_s KL(q(A_s) || pi)

over ``alpha``, ``eta`` and the bias by Adam steps, the expectation estimated with one
Gumbel-softmax sample (temperature ``tau``) per step. ``pi`` is then set in closed form to
its MAP under the paper's generative Dirichlet(``concentration``) prior (default
2 * [0.1, 0.8, 0.1]): ``pi ∝ max(sum_s q_s + concentration - 1, 0)``, floored at 1e-3.
Without that hyperprior nothing tells "no connection" from "a connection of strength ~0"
(both leave the likelihood unchanged), and the argmax adjacency comes out dense. The data term's gradient in W is
computed over time in chunks without autograd (:func:`glm_emissions.gradient`), then
pushed through the small graph ``W(alpha, eta)``, so memory stays O(T (S + N)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import emissions as glm

CLASSES = ("inh", "none", "exc")
PI_FLOOR = 1e-3


class OneHotState:
    """Parameters and optimiser of the one-hot M-step."""

    def __init__(self, S, N, bias, *, share_bias, lr, dtype, device):
        self.share_bias = share_bias
        # start from "no connection" (W = 0) with a mild preference, strength softplus(0)
        self.alpha = torch.zeros(S, N, N, 3, dtype=dtype, device=device)
        self.alpha[..., 1] = 1.0
        self.alpha.requires_grad_(True)
        self.eta = torch.zeros(S, N, N, dtype=dtype, device=device, requires_grad=True)
        b0 = bias[0].clone() if share_bias else bias.clone()
        self.bias = b0.detach().requires_grad_(True)
        self.log_pi = torch.log(torch.full((N, N, 3), 1.0 / 3, dtype=dtype, device=device))
        self.opt = torch.optim.Adam([self.alpha, self.eta, self.bias], lr=lr)
        self.S = S

    def bias_full(self):
        return self.bias.expand(self.S, -1) if self.share_bias else self.bias

    def weights(self, mode: str = "mean") -> torch.Tensor:
        """W from the logits: ``mean`` (expected under q) or ``hard`` (argmax adjacency)."""
        with torch.no_grad():
            strength = F.softplus(self.eta)
            if mode == "hard":
                return self.adjacency().to(strength.dtype) * strength
            q = torch.softmax(self.alpha, -1)
            return (q[..., 2] - q[..., 0]) * strength

    def adjacency(self) -> torch.Tensor:
        """Hard adjacency in {-1, 0, 1}: argmax of the logits minus one."""
        return self.alpha.detach().argmax(-1) - 1

    def prior(self) -> torch.Tensor:
        return torch.exp(self.log_pi)


def gumbel_softmax(logits, tau, generator):
    """A relaxed one-hot sample; the noise comes from ``generator`` (reproducible)."""
    u = torch.rand(logits.shape, dtype=logits.dtype, device=logits.device, generator=generator)
    g = -torch.log(-torch.log(u.clamp(1e-20, 1.0 - 1e-16)))
    return torch.softmax((logits + g) / tau, dim=-1)


def mstep(st: OneHotState, X, Z1, gamma, *, n_steps, tau, generator, emission, link, var,
          l2=0.0, concentration=(0.2, 1.6, 0.2), mask=None):
    """Adam steps on the relaxed objective (+ ridge ``l2`` on W), then the prior update.

    ``Z1`` is ``[1 | history]`` (coupling inputs only)."""
    scale = 1.0 / (X.shape[0] * X.shape[1])
    for _ in range(n_steps):
        st.opt.zero_grad()
        A = gumbel_softmax(st.alpha, tau, generator)
        W = (A[..., 2] - A[..., 0]) * F.softplus(st.eta)
        b = st.bias_full()
        g = glm.gradient(X, Z1, gamma, glm.join(W.detach(), b.detach()), emission, link, var,
                         mask)
        gb, gW = g[..., 0], g[..., 1:]
        q = torch.softmax(st.alpha, -1)
        kl = (q * (torch.log(q.clamp(min=1e-30)) - st.log_pi)).sum()
        loss = scale * (-(W * gW).sum() - (b * gb).sum() + kl + 0.5 * l2 * (W**2).sum())
        loss.backward()
        st.opt.step()
    with torch.no_grad():
        conc = torch.as_tensor(concentration, dtype=st.alpha.dtype, device=st.alpha.device)
        counts = (torch.softmax(st.alpha, -1).sum(0) + conc - 1).clamp(min=0)
        pi = counts / counts.sum(-1, keepdim=True).clamp(min=1e-12)
        pi = (1 - 3 * PI_FLOOR) * pi + PI_FLOOR
        st.log_pi = torch.log(pi)
