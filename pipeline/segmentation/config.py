"""``SegmentationConfig``: how ``laps segment`` / the ``segments`` asset cut a station's videos.

Methods (METHOD.md stages 4-6 and the measured lessons):

- ``"changepoint"`` (default): kernel change points on the per-step feature sequence, their
  number set per video by a label-free rule on the video's own cost path; each piece is labelled
  idle when the mean smoothed energy of its windows stays below the station's calibrated
  ``thr_off`` (every piece ``active`` when the energy cannot be calibrated).
- ``"combined"``: the hysteresis gate decides idle/active; change points refine its edges and
  split active spans (``CombinedSegmenter``); change points in gate-idle spans are dropped.
- ``"hysteresis"``: the paper's recipe: LAE per window, causal EMA, hysteresis with a label-free
  station threshold (``pipeline.energy_segmentation.calibrated_hysteresis``, the code path the
  energy baselines share). The segment cap ``max_len_sec`` is explicit (reference: 2.0 s).

Per-step features (``features``), 10 Hz at the default target rate, concatenated:

- ``"zq"`` / ``"zpre"``: the latent timeline (each step's quantized / pre-quantization latent
  averaged over the windows covering it, ``pipeline.energy.step_timeline``);
- ``"track_speed"`` / ``"flow"``: the windows' ``track_speed`` / ``flow_magnitude`` linearly
  interpolated from window centres to step times;
- ``"motion"``: sqrt of the per-step motion energy of the point tracks (persistent motion and
  each point's noise floor removed; ``pipeline.segmentation.motion``).

``feature_weights`` scales each group after robust standardisation, so a group's weight is
independent of its number of dims (a group of d dims is divided by sqrt(d) first).

Defaults were chosen on development videos only (4 x 60 s ``bench`` synth, seeds 1000-1003,
shake on two; boundary F1 at 1 s): ``changepoint`` on ``motion`` with the ``noise_gain`` rule
(beta 4, segments >= 0.7 s) 0.91; a plateau of 0.90-0.91 over beta 3-5 and 0.6-0.8 s; the
library's default ``consensus`` rule under-splits these dense videos (0.82). Latent features
did not pay with the tokenizers trained on those 4 minutes (codes collapsed to 1-4 indices
after 10 epochs, mostly camera shake after 30): ``zq`` alone 0.69, ``motion`` + ``zq`` 0.88-0.91;
the energy gate (``combined``) cost 0.2-0.35 and the paper's ``hysteresis`` reached 0.11-0.43.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipeline.calibration import PseudoMethod, Transform
from pipeline.config import _Frozen
from pipeline.segmenters import ChangePointParams, HysteresisParams

Method = Literal["combined", "hysteresis", "changepoint"]
Feature = Literal["zq", "zpre", "track_speed", "flow", "motion"]
EnergyName = Literal["lae", "lae_pre"]
FEATURES: tuple[str, ...] = ("zq", "zpre", "track_speed", "flow", "motion")


class SegmentationConfig(_Frozen):
    """Everything that changes the segments of a station (its fingerprint is in every row)."""

    method: Method = "changepoint"
    energy: EnergyName = Field("lae", description="per-window energy of the hysteresis gate")
    # hysteresis (METHOD.md stage 5); thr_on/thr_off come from the label-free calibration
    alpha: float = Field(0.7, gt=0, le=1, description="EMA weight of the newest window")
    off_ratio: float = Field(0.95, gt=0, le=1, description="thr_off = off_ratio * thr_on")
    up: int = Field(2, ge=1, description="windows above thr_on to start a segment")
    down: int = Field(2, ge=1, description="windows below thr_off to end a segment")
    cooldown: int = Field(1, ge=0, description="windows after an end that cannot start one")
    min_len: int = Field(3, ge=1, description="shortest kept active span, windows")
    max_len_sec: float | None = Field(
        None, gt=0, description="cap on a hysteresis segment, s (reference 2.0); None = no cap"
    )
    # label-free calibration (METHOD.md stage 6)
    calibration: PseudoMethod = Field("otsu", description="pseudo-labels: otsu or gmm")
    calibration_transform: Transform = Field("none", description="none or log (on the speed)")
    # change points on the per-step sequence
    features: tuple[Feature, ...] = Field(("motion",), min_length=1)
    feature_weights: tuple[float, ...] | None = Field(
        None, description="one weight per feature group (None = all 1)"
    )
    changepoint: ChangePointParams = ChangePointParams(
        rule="noise_gain", beta=4.0, min_size_sec=0.7
    )
    edge_sec: float = Field(
        1.0, ge=0, description="combined: a change point this close to a gate edge replaces it"
    )

    @model_validator(mode="after")
    def _consistent(self) -> SegmentationConfig:
        problems = []
        if len(set(self.features)) != len(self.features):
            problems.append(f"features repeat: {self.features}")
        if self.feature_weights is not None:
            if len(self.feature_weights) != len(self.features):
                problems.append(
                    f"feature_weights {self.feature_weights} must have one weight per feature "
                    f"{self.features}"
                )
            if any(w < 0 for w in self.feature_weights):
                problems.append(f"feature_weights must be >= 0, got {self.feature_weights}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def hysteresis_params(self, thr_on: float = 1.0) -> HysteresisParams:
        """Hysteresis settings (``thr_on`` is a placeholder until calibrated)."""
        return HysteresisParams(
            thr_on=thr_on,
            max_len_sec=self.max_len_sec,
            alpha=self.alpha,
            off_ratio=self.off_ratio,
            up=self.up,
            down=self.down,
            cooldown=self.cooldown,
            min_len=self.min_len,
        )

    def weights(self) -> tuple[float, ...]:
        return self.feature_weights or tuple(1.0 for _ in self.features)

    def label(self) -> str:
        """``"<method>:<fingerprint>"``: the ``segmenter`` column of the segments table."""
        return f"{self.method}:{self.fingerprint()}"
