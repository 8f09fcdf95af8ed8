#!/usr/bin/env python3
"""Owner side, PyTorch variant: train the small colour classifier (an MLP
3-16-6, torch.nn) on generated data and save it as model.pt (tensors and
plain lists only, so the shield loads it with weights_only=True).

Usage: make_model_torch.py OUT.pt
"""
import sys

import torch

from colours import CENTRES, HIDDEN, LABELS, NOISE, SAMPLES_PER_CLASS, SEED


def main():
    g = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)
    x = torch.cat([(torch.tensor(c, dtype=torch.float32) + NOISE * torch.randn(SAMPLES_PER_CLASS, 3, generator=g)).clamp(0, 255) for c in CENTRES]) / 255.0
    y = torch.arange(len(LABELS)).repeat_interleave(SAMPLES_PER_CLASS)
    model = torch.nn.Sequential(torch.nn.Linear(3, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, len(LABELS)))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(500):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
    if accuracy < 0.98:
        sys.exit(f"make_model_torch: training accuracy {accuracy:.3f} is too low")
    torch.save({"labels": LABELS, "hidden": HIDDEN, "state": model.state_dict()}, sys.argv[1])
    print(f"make_model_torch: wrote {sys.argv[1]} (training accuracy {accuracy:.3f})")


if __name__ == "__main__":
    main()
