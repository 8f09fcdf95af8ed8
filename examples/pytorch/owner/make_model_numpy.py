#!/usr/bin/env python3
"""Owner side, numpy variant: train the small colour classifier (an MLP
3-16-6) on generated data and save it as model.npz (no pickles).

Usage: make_model_numpy.py OUT.npz
"""
import sys

import numpy as np

from colours import CENTRES, HIDDEN, LABELS, NOISE, SAMPLES_PER_CLASS, SEED


def main():
    rng = np.random.default_rng(SEED)
    x = np.concatenate([np.clip(rng.normal(c, NOISE, (SAMPLES_PER_CLASS, 3)), 0, 255) for c in CENTRES]) / 255.0
    y = np.repeat(np.arange(len(LABELS)), SAMPLES_PER_CLASS)
    w1 = rng.normal(0, 0.5, (3, HIDDEN))
    b1 = np.zeros(HIDDEN)
    w2 = rng.normal(0, 0.5, (HIDDEN, len(LABELS)))
    b2 = np.zeros(len(LABELS))
    onehot = np.eye(len(LABELS))[y]
    for _ in range(3000):  # full-batch gradient descent on cross-entropy
        h = np.tanh(x @ w1 + b1)
        z = h @ w2 + b2
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        dz = (p - onehot) / len(x)
        dh = (dz @ w2.T) * (1 - h * h)
        w2 -= 2.0 * (h.T @ dz)
        b2 -= 2.0 * dz.sum(axis=0)
        w1 -= 2.0 * (x.T @ dh)
        b1 -= 2.0 * dh.sum(axis=0)
    accuracy = (p.argmax(axis=1) == y).mean()
    if accuracy < 0.98:
        sys.exit(f"make_model_numpy: training accuracy {accuracy:.3f} is too low")
    np.savez(sys.argv[1], w1=w1, b1=b1, w2=w2, b2=b2, labels=np.array(LABELS))
    print(f"make_model_numpy: wrote {sys.argv[1]} (training accuracy {accuracy:.3f})")


if __name__ == "__main__":
    main()
