"""Cost of training the tRSA figure's All-CNN-C nets per width, against the 40-min budget.

Measures CPU seconds per training batch (64 images of 32x32, Adam step) on one torch
thread for each width factor, and projects the figure's training (10 seeds x
``max_epochs`` epochs over the image set's training images) onto 2 quiet cores, where the
figure trains one net per core (two processes: the wall time halves). Prints the ratio of
the projection to the issue's budget of 40 minutes: the widest width at or under 1.0 fits
it (the figure's default width and why: ``neurodag.report.papers.trsa.WIDTH``).

Run: ``.venv/bin/python bench/trsa_widths.py [--widths 0.25 0.5 0.75 1.0] [--epochs 15]
[--images mnist]``.
CPU time (not wall time) is measured so that a loaded machine distorts it less.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def batch_cpu_seconds(width: float, repeats: int = 3) -> float:
    import torch
    from torch import nn

    from neurodag.report.papers.trsa_nets import all_cnn_c

    torch.manual_seed(0)
    net = all_cnn_c(width)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = torch.randn(64, 1, 32, 32), torch.randint(0, 10, (64,))
    times = []
    for k in range(repeats + 1):
        c0 = time.process_time()
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        if k:                                   # the first step warms up oneDNN
            times.append(time.process_time() - c0)
    return float(np.median(times))


def main() -> None:
    import torch

    from neurodag.report.papers.trsa import MAX_EPOCHS
    from neurodag.report.papers.trsa_nets import IMAGES, N_STIMULI, N_TEST, load_images

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    p.add_argument("--epochs", type=int, default=MAX_EPOCHS, help="max_epochs of the figure")
    p.add_argument("--images", choices=IMAGES, default=IMAGES[0], help="the image set")
    p.add_argument("--seeds", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(1)
    n_train = load_images(args.images)[1].size - N_STIMULI - N_TEST
    batches = -(-n_train // 64)
    print(f"{'width':>6} {'channels':>9} {'cpu s/batch':>12} {'cpu s/epoch':>12} "
          f"{'2 cores, min':>13} {'/ 40 min':>9}")
    for w in args.widths:
        s = batch_cpu_seconds(w)
        epoch = s * batches
        minutes = epoch * args.epochs * args.seeds / 2 / 60
        print(f"{w:6.2f} {round(96 * w):4d}/{round(192 * w):<4d} {s:12.3f} {epoch:12.1f} "
              f"{minutes:13.1f} {minutes / 40:9.2f}")


if __name__ == "__main__":
    main()
