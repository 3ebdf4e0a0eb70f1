#!/usr/bin/python3
"""Fine-tuning throughput of eager PyTorch on the same small VGG-style network
that bench/trainer_speed_bench.cc runs through the C++ Trainer: random
1x28x28 images, 10 classes, SGD (lr 0.01, momentum 0.9, Nesterov, weight
decay 1e-4), CosineAnnealingWarmRestarts stepped per iteration, cross-entropy.
The loop does per step what the C++ trainer does: forward, loss, zero_grad,
backward, step, read the loss and the number of correct predictions.

Images per CPU-second (process time) are reported beside wall-clock images/s
because they are far less sensitive to other load on a shared machine.

Prints a table and one "RESULT python ..." line per batch size, which
bench/run_trainer_speed.sh parses. Run with Debian's interpreter:

  /usr/bin/python3 bench/trainer_speed.py [--threads 1] [--steps 60]
                                          [--warmup 8] [--batches 20,64]
"""

import argparse
import time

import torch
from torch import nn


def conv_block(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout),
            nn.ReLU()]


class SmallVgg(nn.Module):
    """conv16-conv16-pool / conv32-conv32-pool / conv64-pool (3x3 pad 1 with
    bias, BatchNorm, ReLU) -> flatten 64*3*3 -> fc 128 -> ReLU -> fc 10."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            *conv_block(1, 16), *conv_block(16, 16), nn.MaxPool2d(2),
            *conv_block(16, 32), *conv_block(32, 32), nn.MaxPool2d(2),
            *conv_block(32, 64), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(1), nn.Linear(64 * 3 * 3, 128), nn.ReLU(),
            nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def measure(batch, steps, warmup):
    torch.manual_seed(1)
    model = SmallVgg()
    torch.manual_seed(0)
    pool = [(torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,)))
            for _ in range(4)]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9,
                                nesterov=True, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        optimizer, T_0=1, eta_min=1e-5)
    criterion = nn.CrossEntropyLoss()
    total = warmup + steps
    model.train()
    start = None
    for i in range(total):
        if i == warmup:
            start = time.perf_counter()
            cpu_start = time.process_time()
        x, y = pool[i % 4]
        scheduler.step(i / total)
        logits = model(x)
        loss = criterion(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()
        (logits.detach().argmax(1) == y).sum().item()
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    return (steps * batch / seconds, steps * batch / cpu_seconds,
            1000.0 * seconds / steps)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--batches", default="20,64")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    print(f"PyTorch {torch.__version__} eager SmallVgg, threads={args.threads}"
          f", {args.steps} timed steps after {args.warmup} warm-up")
    print(f"{'batch':>8} {'images/s':>14} {'images/cpu-s':>14} "
          f"{'ms/step':>12}")
    for batch in batches:
        ips, cpu_ips, ms = measure(batch, args.steps, args.warmup)
        print(f"{batch:>8} {ips:>14.1f} {cpu_ips:>14.1f} {ms:>12.2f}")
        print(f"RESULT python batch={batch} threads={args.threads} "
              f"images_per_sec={ips:.2f} images_per_cpu_sec={cpu_ips:.2f}")


if __name__ == "__main__":
    main()
