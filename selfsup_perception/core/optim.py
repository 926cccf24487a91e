"""Adam with decoupled weight decay (AdamW, Loshchilov & Hutter 2019) for the numpy heads' (W, b) layers."""

from __future__ import annotations

import math

import numpy as np

Layers = tuple[tuple[np.ndarray, np.ndarray], ...]  # (W, b) per layer


class AdamW:
    """AdamW on (W, b) layers: weight decay on the weight matrices only, towards ``anchor`` (zero without one;
    the starting weights for fine-tuning, "L2-SP", so few labels cannot make the head forget what it knew)."""

    def __init__(self, layers: Layers, learning_rate: float, weight_decay: float, anchor: Layers | None = None) -> None:
        self.learning_rate, self.weight_decay = learning_rate, weight_decay
        self.anchor = None if anchor is None else tuple(w.copy() for w, _ in anchor)
        self.t = 0
        self.m = [tuple(np.zeros_like(p) for p in layer) for layer in layers]
        self.v = [tuple(np.zeros_like(p) for p in layer) for layer in layers]

    def step(self, layers: Layers, grads: list[tuple[np.ndarray, np.ndarray]]) -> Layers:
        """New parameters (fresh arrays, so a kept 'best' copy is never modified)."""
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        lr, decay = self.learning_rate, self.weight_decay
        self.t += 1
        correction = math.sqrt(1 - beta2**self.t) / (1 - beta1**self.t)
        new_layers = []
        for i, (layer, grad) in enumerate(zip(layers, grads, strict=True)):
            m = tuple(beta1 * mi + (1 - beta1) * g for mi, g in zip(self.m[i], grad, strict=True))
            v = tuple(beta2 * vi + (1 - beta2) * g * g for vi, g in zip(self.v[i], grad, strict=True))
            self.m[i], self.v[i] = m, v
            w, b = (
                p - np.float32(lr * correction) * mi / (np.sqrt(vi) + eps)
                for p, mi, vi in zip(layer, m, v, strict=True)
            )
            pulled = layer[0] if self.anchor is None else layer[0] - self.anchor[i]
            new_layers.append(((w - np.float32(lr * decay) * pulled).astype(np.float32), b.astype(np.float32)))
        return tuple(new_layers)
