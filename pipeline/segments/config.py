"""``SegmentationConfig``: how ``laps segment`` / the ``segments`` asset cut a station's videos.

Methods (docs/method.md stages 4-6 and the measured lessons):

- ``"changepoint"`` (default): kernel change points on the per-step feature sequence, their
  number set per video by a label-free rule on the video's own cost path; each piece is labelled
  idle when the mean smoothed energy of its windows stays below the station's calibrated
  ``thr_off`` (every piece ``active`` when the energy cannot be calibrated).
- ``"combined"``: the hysteresis gate decides idle/active; change points refine its edges and
  split active spans (``CombinedSegmenter``); change points in gate-idle spans are dropped.
- ``"hysteresis"``: the paper's recipe: LAE per window, causal EMA, hysteresis with a label-free
  station threshold (``pipeline.segments.energy_segmentation.calibrated_hysteresis``, the code path
  the energy baselines share). The segment cap ``max_len_sec`` is explicit (reference: 2.0 s).

Per-step features (``features``), 10 Hz at the default target rate, concatenated:

- ``"zq"`` / ``"zpre"``: the latent timeline (each step's quantized / pre-quantization latent
  averaged over the windows covering it, ``pipeline.segments.energy.step_timeline``);
- ``"track_speed"`` / ``"flow"``: the windows' ``track_speed`` / ``flow_magnitude`` linearly
  interpolated from window centres to step times;
- ``"motion"``: sqrt of the per-step motion energy of the point tracks (belts removed, each
  point's velocity smoothed over ``motion_smooth_steps`` and its noise floor removed;
  ``pipeline.segments.motion``);
- ``"occlusion"``: sqrt of the number of tracked points lost at the step above their usual
  rate (the tracker loses points where the hand moves fastest or covers them).

``feature_weights`` scales each group after robust standardisation, so a group's weight is
independent of its number of dims (a group of d dims is divided by sqrt(d) first); ``None``
gives each group its ``DEFAULT_WEIGHTS`` entry (1 where there is none).

Defaults were chosen on development videos only (``bench`` synth, 60 s each, seeds 1000-1007
and 3000-3007; boundary F1 at 1 s, mean of 16 videos; the held-out seeds of BENCHMARKS.md were
not used):

- ``changepoint`` with the ``noise_gain`` rule (beta 4, segments >= 0.7 s); a plateau of
  0.93-0.94 over beta 4-5 and 0.7-0.8 s;
- features: ``motion`` alone as first built (no belt filter, no smoothing, no phase
  standardisation) 0.906; ``motion`` now 0.93; ``motion`` + ``occlusion`` 0.930 (weight 1),
  0.942 (weight 0.5), 0.937 (0.3). The belt filter is worth +0.02, the smoothing +0.01;
  boundary F1 at 0.5 s rose from 0.84 to 0.91 and segment F1 at IoU 0.5 from 0.74 to 0.85;
- ``repeat`` (the default since issue 12 item 2): noise_gain's pieces, and in a video of
  repeated-cycle work (the median distance between the spatial motion pattern of the 1 s
  before and after each change point below 1.05) the change points below 1.25 are dropped
  (``pipeline.segments.segmenters.repeat``). On the development videos it left every ``bench``,
  ``bench-cam``, ``twohand`` and demo (``test``) video as noise_gain cut it (the gate's median
  was 1.23-1.93 there, 0.26-0.90 on ``cyclic``) and lifted ``cyclic`` from 0.390 to 0.818 at
  1 s (12.8 segments per video, truth 12.6); its second pass (``repeat_second``, on by
  default) to 0.868 (14.0 segments), though on the cyclic report seeds it went 0.785 -> 0.768;
- ``adaptive`` (noise_gain, or the knee when noise_gain gives more than 2.4 times the knee's
  count; ``pipeline.segments.segmenters.changepoint``) is opt-in, not the default: it keeps
  every ``bench`` development video as it is (0.944 at 1 s) and lifts the ``cyclic``
  development videos (seeds 6000-6007: long activities of repeated cycles) from 0.390 to
  0.794 (15.2 segments per video instead of 48.4, truth 12.6), but on the demo's own sample
  videos (``test`` preset, 4 x 40 s) it switched on 3 of 4 and fell from 0.945 to 0.649;
- the library's default ``consensus`` rule under-splits these dense videos (0.82 as first
  built). Latent features did not pay: with the tokenizer trained on the same videos ``zq``
  alone reaches 0.85; added to ``motion`` + ``occlusion`` (tokenizer with its input dead zone)
  ``zq`` or ``zpre`` at weight 0.25 change the score by less than 0.005, at 0.5 they cost
  0.006-0.009; the energy gate
  (``combined``) cost 0.2-0.35 and the paper's ``hysteresis`` reached 0.11-0.43 (first build).
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import Field, model_validator

from pipeline.config import FrozenConfig
from pipeline.segments.calibration import PseudoMethod, Transform
from pipeline.segments.segmenters import ChangePointParams, HysteresisParams
from pipeline.segments.segmenters.hysteresis import DEFAULTS as _H

Method = Literal["combined", "hysteresis", "changepoint"]
Feature = Literal["zq", "zpre", "track_speed", "flow", "motion", "occlusion"]
EnergyName = Literal["lae", "lae_pre"]
FEATURES: tuple[str, ...] = ("zq", "zpre", "track_speed", "flow", "motion", "occlusion")
TRACK_FEATURES: frozenset[str] = frozenset({"motion", "occlusion"})  # need the track files
DEFAULT_WEIGHTS: dict[str, float] = {"occlusion": 0.5}


class SegmentationConfig(FrozenConfig):
    """Everything that changes the segments of a station (its fingerprint is in every row)."""

    method: Method = "changepoint"
    energy: EnergyName = Field("lae", description="per-window energy of the hysteresis gate")
    # hysteresis (docs/method.md stage 5); thr_on/thr_off come from the label-free calibration
    alpha: float = Field(_H["alpha"], gt=0, le=1, description="EMA weight of the newest window")
    off_ratio: float = Field(
        _H["off_ratio"], gt=0, le=1, description="thr_off = off_ratio * thr_on"
    )
    up: int = Field(_H["up"], ge=1, description="windows above thr_on to start a segment")
    down: int = Field(_H["down"], ge=1, description="windows below thr_off to end a segment")
    cooldown: int = Field(
        _H["cooldown"], ge=0, description="windows after an end that cannot start one"
    )
    min_len: int = Field(_H["min_len"], ge=1, description="shortest kept active span, windows")
    max_len_sec: float | None = Field(
        None, gt=0, description="cap on a hysteresis segment, s (reference 2.0); None = no cap"
    )
    # label-free calibration (docs/method.md stage 6)
    calibration: PseudoMethod = Field("otsu", description="pseudo-labels: otsu or gmm")
    calibration_transform: Transform = Field("none", description="none or log (on the speed)")
    # change points on the per-step sequence
    features: tuple[Feature, ...] = Field(("motion", "occlusion"), min_length=1)
    feature_weights: tuple[float, ...] | None = Field(
        None, description="one weight per feature group (None = DEFAULT_WEIGHTS, else 1)"
    )
    changepoint: ChangePointParams = ChangePointParams(rule="repeat", beta=4.0, min_size_sec=0.7)
    # per-step track features (pipeline.segments.motion)
    motion_smooth_steps: float = Field(
        1.0, ge=0, description="Gaussian sigma (steps) on each point's velocity; 0 = none"
    )
    conveyor_filter: bool = Field(
        True, description="down-weight points whose motion always goes one way (belts)"
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

    @property
    def needs_tracks(self) -> bool:
        """Whether segmenting reads the stored track files (the hysteresis method uses no
        per-step features)."""
        return self.method != "hysteresis" and bool(TRACK_FEATURES & set(self.features))

    def weights(self) -> tuple[float, ...]:
        if self.feature_weights is not None:
            return self.feature_weights
        return tuple(DEFAULT_WEIGHTS.get(f, 1.0) for f in self.features)

    def fingerprint(self) -> str:
        """Hash of the values, with the feature weights as used (``DEFAULT_WEIGHTS`` resolved),
        so a change of a default weight changes the fingerprint."""
        blob = self.model_dump(mode="json")
        blob["feature_weights"] = list(self.weights())
        return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:12]

    def label(self) -> str:
        """``"<method>:<fingerprint>"``: the ``segmenter`` column of the segments table."""
        return f"{self.method}:{self.fingerprint()}"
