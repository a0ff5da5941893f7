"""Networks: the compact AT-AT-style denoiser, its spectral discriminator, and the FCNN.

:class:`ATATDenoiser` (after "Removing Neural Signal Artifacts with Autoencoder-Targeted
Adversarial Transformers"; no public code, so this is our reading of its description):

1. **Contamination autoencoder** (:class:`ContaminationAE`): a strided 1-D conv encoder maps
   the 2 s epoch (512 samples) to one latent vector per 16-sample patch (62.5 ms), a
   transposed-conv decoder reconstructs the input from it, and a score head gives each
   patch a contamination logit (trained against "EMG power > 10 % of the EEG power in the
   patch", which the semi-synthetic benchmark knows).
2. **Time-series transformer** (:class:`PatchTransformer`): patches embedded linearly, plus
   the autoencoder's latent and a learned position embedding, through a small pre-norm
   transformer encoder; a linear head returns the artifact in each patch, a tiny conv
   refines it across patch edges.
3. The output is ``y - g * artifact`` with ``g`` the patch scores (sigmoid, interpolated to
   samples): the transformer's correction is applied where the autoencoder flags. At
   inference (:meth:`ATATDenoiser.denoise`) epochs with no patch above ``threshold`` skip
   the transformer and pass unchanged.

Training adds an adversarial loss from :class:`SpectralDiscriminator`, which sees
the normalised log power spectrum of clean and denoised epochs, so that outputs keep the
spectral character of EEG (see :mod:`neurodag.denoise.training`).

:class:`FCNN` is EEGdenoiseNet's fully connected benchmark network (four dense layers of
the epoch's length, ReLU, dropout 0.3).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Architecture hyper-parameters of :class:`ATATDenoiser` (saved in config.json).
ATAT_DEFAULTS = {"n_samples": 512, "patch": 16, "conv": (8, 16), "latent": 16,
                 "d_model": 32, "n_heads": 4, "n_layers": 2, "d_ff": 64, "dropout": 0.0}


def n_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


class ContaminationAE(nn.Module):
    """Conv autoencoder with one latent and one contamination logit per patch."""

    def __init__(self, patch: int = 16, conv=(8, 16), latent: int = 16):
        super().__init__()
        if patch % 4:
            raise ValueError(f"patch must be a multiple of 4, got {patch}")
        c1, c2 = conv
        k = patch // 4
        self.encoder = nn.Sequential(
            nn.Conv1d(1, c1, 7, stride=2, padding=3), nn.GELU(),
            nn.Conv1d(c1, c2, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(c2, latent, k, stride=k),
        )
        self.decoder = nn.Sequential(
            nn.GELU(), nn.ConvTranspose1d(latent, c2, k, stride=k), nn.GELU(),
            nn.ConvTranspose1d(c2, c1, 4, stride=2, padding=1), nn.GELU(),
            nn.ConvTranspose1d(c1, 1, 4, stride=2, padding=1),
        )
        self.score = nn.Conv1d(latent, 1, 3, padding=1)

    def encode(self, y: torch.Tensor):
        """Latents (B, latent, P) and contamination logits (B, P); no reconstruction."""
        z = self.encoder(y[:, None, :])
        return z, self.score(F.gelu(z))[:, 0, :]

    def forward(self, y: torch.Tensor):
        z, logit = self.encode(y)
        return z, self.decoder(z)[:, 0, :], logit


class PatchTransformer(nn.Module):
    """Transformer encoder over patches; returns the artifact per patch ``(B, P, patch)``."""

    def __init__(self, n_patches: int, patch: int = 16, latent: int = 16, d_model: int = 32,
                 n_heads: int = 4, n_layers: int = 2, d_ff: int = 64, dropout: float = 0.0):
        super().__init__()
        self.embed = nn.Linear(patch, d_model)
        self.zproj = nn.Linear(latent, d_model, bias=False)
        self.pos = nn.Parameter(torch.randn(1, n_patches, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, patch)

    def forward(self, patches: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = self.embed(patches) + self.zproj(z) + self.pos
        return self.head(self.norm(self.encoder(h)))


class ATATDenoiser(nn.Module):
    """The compact denoiser: contamination autoencoder + gated patch transformer."""

    def __init__(self, n_samples: int = 512, patch: int = 16, conv=(8, 16), latent: int = 16,
                 d_model: int = 32, n_heads: int = 4, n_layers: int = 2, d_ff: int = 64,
                 dropout: float = 0.0):
        super().__init__()
        if n_samples % patch:
            raise ValueError(f"n_samples ({n_samples}) must be a multiple of patch ({patch})")
        self.n_samples, self.patch = int(n_samples), int(patch)
        self.n_patches = self.n_samples // self.patch
        self.ae = ContaminationAE(patch, tuple(conv), latent)
        self.transformer = PatchTransformer(self.n_patches, patch, latent, d_model, n_heads,
                                            n_layers, d_ff, dropout)
        self.refine = nn.Sequential(nn.Conv1d(2, 8, 9, padding=4), nn.GELU(),
                                    nn.Conv1d(8, 1, 9, padding=4))

    def gate(self, logit: torch.Tensor) -> torch.Tensor:
        """Patch scores (B, P) -> per-sample gate (B, L), linearly interpolated."""
        g = torch.sigmoid(logit)[:, None, :]
        return F.interpolate(g, size=self.n_samples, mode="linear", align_corners=False)[:, 0]

    def _artifact(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        b = y.shape[0]
        a = self.transformer(y.reshape(b, self.n_patches, self.patch), z.transpose(1, 2))
        a = a.reshape(b, self.n_samples)
        return a + self.refine(torch.stack([a, y], dim=1))[:, 0]

    def forward(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """``y`` (B, n_samples) -> ``x_hat``, ``logit`` (B, P), ``recon`` (B, n_samples)."""
        z, recon, logit = self.ae(y)
        x_hat = y - self.gate(logit) * self._artifact(y, z)
        return {"x_hat": x_hat, "logit": logit, "recon": recon}

    @torch.no_grad()
    def denoise(self, y: torch.Tensor, threshold: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference: the transformer runs only on epochs with a patch scored >= threshold.

        Returns the denoised epochs (the input itself where not flagged) and each epoch's
        contamination score (B,): the highest patch probability; flagged = score >= threshold.
        """
        z, logit = self.ae.encode(y)  # the decoder only serves training
        score = torch.sigmoid(logit).amax(dim=1)
        flagged = score >= threshold
        out = y.clone()
        if bool(flagged.any()):
            idx = flagged.nonzero()[:, 0]
            yf = y[idx]
            out[idx] = yf - self.gate(logit[idx]) * self._artifact(yf, z[idx])
        return out, score

    @property
    def size(self) -> dict[str, int]:
        return {"total": n_parameters(self), "autoencoder": n_parameters(self.ae),
                "transformer": n_parameters(self.transformer) + n_parameters(self.refine)}


def log_spectrum(x: torch.Tensor) -> torch.Tensor:
    """Log of the Hann-windowed power spectrum, normalised to unit total power (B, F)."""
    win = torch.hann_window(x.shape[-1], periodic=False, dtype=x.dtype, device=x.device)
    p = torch.fft.rfft(x * win, dim=-1).abs().square()
    p = p / (p.sum(dim=-1, keepdim=True) + 1e-12)
    return torch.log(p + 1e-8)


class SpectralDiscriminator(nn.Module):
    """Real (clean EEG) vs denoised, from the normalised log power spectrum."""

    def __init__(self, n_samples: int = 512, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_samples // 2 + 1, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden // 2), nn.LeakyReLU(0.2),
            nn.Linear(hidden // 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(log_spectrum(x))[:, 0]


class FCNN(nn.Module):
    """EEGdenoiseNet's fully connected denoiser: 4 dense layers of width n_samples."""

    def __init__(self, n_samples: int = 512, dropout: float = 0.3):
        super().__init__()
        n = int(n_samples)
        self.n_samples = n
        self.net = nn.Sequential(
            nn.Linear(n, n), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(n, n), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(n, n), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(n, n),
        )

    def forward(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"x_hat": self.net(y)}

    @torch.no_grad()
    def denoise(self, y: torch.Tensor, threshold: float = 0.0):
        """Every epoch is denoised (score 1)."""
        return self.net(y), torch.ones(y.shape[0], dtype=y.dtype, device=y.device)

    @property
    def size(self) -> dict[str, int]:
        return {"total": n_parameters(self)}


ARCHITECTURES = {"atat": ATATDenoiser, "fcnn": FCNN}


def build(arch: str, **params) -> nn.Module:
    """A network by name (``atat`` or ``fcnn``) from its hyper-parameters."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {list(ARCHITECTURES)}")
    return ARCHITECTURES[arch](**params)
