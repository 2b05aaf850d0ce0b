"""Joint normalisation of one head's queries and keys, before they are embedded together.

Two free parameters leave every attention weight unchanged (Yeh et al. 2023, §4.1):

    scaling      q' = q / c,  k' = k * c,   c = sqrt(mean|q| / mean|k|)   every q.k is unchanged
    translation  k' = k - mean(K) + mean(Q)                                each query's logits move
                                                                           by one constant
Scaling runs first (c from the raw norms, so the two clouds get equal mean norm), then the key
centroid is moved onto the query centroid. Translation is only exact when the logits go straight
into the softmax: a head with a logit soft-cap (tanh) must not be translated.

The stacked matrix [Q'; K'] (rows 0..N-1 queries, N..2N-1 keys, token order) is what every
reducer embeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Normalisation:
    """Which of the two attention-preserving transforms to apply.

    `scale`: False (off), True (c = sqrt(mean|q| / mean|k|)) or a number (that c, e.g. one chosen per
    head to maximise fidelity).
    """

    translate: bool = True
    scale: bool | float = False

    def describe(self) -> str:
        parts = ["translated" if self.translate else "raw"]
        if self.scale is True:
            parts.append("scaled")
        elif self.scale is not False:
            parts.append(f"scaled c={float(self.scale):g}")
        return "+".join(parts)


RAW = Normalisation(translate=False, scale=False)
TRANSLATED = Normalisation(translate=True, scale=False)
TRANSLATED_SCALED = Normalisation(translate=True, scale=True)
#: by name, as `attentionviz embed --normalisation` takes them (None or "auto": `choose`, per head)
NORMALISATIONS: dict[str | None, Normalisation | None] = {
    None: None,
    "auto": None,
    "translated": TRANSLATED,
    "raw": RAW,
    "translated+scaled": TRANSLATED_SCALED,
}
# Chosen from benchmarks/fidelity.py (MiniLM, 5k tokens). Raw keys track q.k best in the original
# space (cosine rho -0.979 against -0.884 translated), but their layouts keep queries and keys in two
# separate clouds (1-3% of a query's 15 nearest layout points are keys, against 8-26% translated),
# while t-SNE's rho is the same either way (-0.306 raw, -0.302 translated). A per-head c that
# maximises the original-space rho (-0.977) separates the clouds again. Scaling by the norm ratio
# moves little (cosine rho -0.893, PCA layout rho -0.317 against -0.316), so it is off by default.
DEFAULT = TRANSLATED
# SmolLM2 (Llama, 5k tokens) disagrees: translated keys keep only half of the raw keys' cosine rho
# (-0.486 against -0.962) and their UMAP / PCA layouts lose all fidelity (rho +0.05 / +0.10). So
# the pipeline's default is `choose`, per head: translate when that keeps at least AUTO_KEEP of the
# raw keys' fidelity (90% of MiniLM's heads are translated, 15% of SmolLM2's).
AUTO_KEEP = 0.8


def choose(
    q: np.ndarray, k: np.ndarray, rho: Callable[[np.ndarray, np.ndarray], float]
) -> tuple[Normalisation, dict[str, Any]]:
    """DEFAULT (translated keys) when it keeps AUTO_KEEP of the raw keys' fidelity, else RAW.

    `rho(q_at, k_at)` is the head's fidelity under cosine distance; returns the choice and its reasons.
    """
    raw = rho(q, k)
    moved = normalise(q, k, DEFAULT)
    translated = rho(moved.q, moved.k)
    if not np.isfinite(raw) or not np.isfinite(translated):
        keep = True
    else:
        keep = translated <= AUTO_KEEP * raw if raw < 0 else translated <= raw
    reasons = {
        "rule": f"auto: translate keys when that keeps {AUTO_KEEP:.0%} of the raw keys' cosine rho",
        "rho_raw": raw,
        "rho_translated": translated,
    }
    return (DEFAULT if keep else RAW), reasons


@dataclass(frozen=True)
class Joint:
    """The normalised vectors of one head and what was done to them."""

    q: np.ndarray  # [N, D] float32
    k: np.ndarray  # [N, D] float32
    translate: bool
    scale: float  # the c applied (1.0: none)
    shift: np.ndarray  # [D] added to every key: mean(Q') - mean(K c), zeros when not translated
    reasons: dict[str, Any] = field(default_factory=dict)  # why this normalisation (auto choice)

    def stacked(self) -> np.ndarray:
        """[2N, D] float32: rows 0..N-1 the queries, N..2N-1 the keys."""
        return np.ascontiguousarray(np.concatenate([self.q, self.k], axis=0), dtype=np.float32)

    def record(self) -> dict[str, Any]:
        """What a layout's metadata says about its normalisation."""
        return {"translate": self.translate, "scale": self.scale != 1.0, "c": self.scale, **self.reasons}


def scale_factor(q: np.ndarray, k: np.ndarray) -> float:
    """c = sqrt(mean|q| / mean|k|): dividing queries and multiplying keys by it equalises mean norms."""
    q_norm = float(np.linalg.norm(q, axis=1).mean())
    k_norm = float(np.linalg.norm(k, axis=1).mean())
    if q_norm <= 0.0 or k_norm <= 0.0:
        return 1.0
    return float(np.sqrt(q_norm / k_norm))


def normalise(q: np.ndarray, k: np.ndarray, how: Normalisation = DEFAULT) -> Joint:
    """Apply `how` to one head's queries q [N, D] and its KV group's keys k [N, D]."""
    if q.shape != k.shape or q.ndim != 2:
        raise ValueError(f"queries and keys must both be [N, D], got {q.shape} and {k.shape}")
    q32 = np.asarray(q, dtype=np.float32)
    k32 = np.asarray(k, dtype=np.float32)
    if how.scale is True:
        c = scale_factor(q32, k32)
    elif how.scale is False:
        c = 1.0
    else:
        c = float(how.scale)
        if not np.isfinite(c) or c <= 0.0:
            raise ValueError(f"the scale c must be a positive number, got {how.scale!r}")
    q_out = q32 / np.float32(c) if c != 1.0 else q32.copy()
    k_out = k32 * np.float32(c) if c != 1.0 else k32.copy()
    shift = np.zeros(q32.shape[1], dtype=np.float32)
    if how.translate:
        shift = (q_out.mean(axis=0, dtype=np.float64) - k_out.mean(axis=0, dtype=np.float64)).astype(
            np.float32
        )
        k_out += shift
    return Joint(q=q_out, k=k_out, translate=how.translate, scale=c, shift=shift)
