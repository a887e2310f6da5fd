"""The random streams of a run, each seeded from the run's seed and the stream's name.

A comparison is *paired*: for one seed, every activation trains from the same draws.  Each stream
has its own seed, derived here, so that one activation drawing more random numbers (a learnable
parameter, a randomized activation) never shifts another stream:

==========================  =========================================================================
stream                      what it draws
==========================  =========================================================================
("build",)                  whatever a model factory draws while building the model
("init", module path)       the initial weights of that module (the same path and shape: the same draw)
("order", epoch)            the epoch's minibatch order (tensors, datasets, and a DataLoader's shuffle)
("epoch", epoch)            draws while training in that epoch (dropout and the like)
==========================  =========================================================================

The train/test split is the dataset's own, the same for every seed.
"""

from __future__ import annotations

import hashlib
import json


def derive(seed: int, *labels: object) -> int:
    """A 63-bit seed for one random stream of a run: a hash of the run's seed and the stream's labels.

    Each stream a comparison shares between activations (``"order", epoch``; ``"init", module path``;
    ``"build"``; ``"epoch", epoch``) has its own seed, so that one activation drawing more random
    numbers (a learnable parameter, a randomized activation) never shifts another stream.

    >>> derive(0, "order", 1) == derive(0, "order", 1) != derive(1, "order", 1)
    True
    """
    text = json.dumps([seed, *labels], default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1
