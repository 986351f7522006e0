"""Load profiles as data: stages of users and arrival rate, a traffic mix, named presets.

A profile (``load/profiles/<name>.yaml``) states the load at scale 1.0, as the seed does
(baseline 10K users at 1,000 iterations/s for 30 min, …). ``scale`` multiplies users and rate,
``time_scale`` multiplies every duration; together they shrink a profile to fit a laptop or a CI
runner and keep its shape. A preset (``smoke``, ``ci``) is a named pair of them, per profile.

Within a stage the target rate and the users move linearly from the previous stage's values to
the stage's own (k6's ramping-arrival-rate); a stage with ``ramp: false`` jumps at its start.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

PROFILES_DIR = Path(__file__).resolve().parents[3] / "load" / "profiles"
JOURNEYS = ("search", "recommendations", "playback", "auth", "sync")
DEFAULT_MIX = {"search": 40.0, "recommendations": 25.0, "playback": 20.0, "auth": 10.0, "sync": 5.0}
"""The original system's load scripts' mix (DESIGN.md §5), in percent of iterations."""


class ProfileError(ValueError):
    """A profile file or option is wrong; the message names the file and the field."""


@dataclass(frozen=True)
class Stage:
    name: str
    duration: float
    """Seconds."""
    users: int
    """Concurrent users (Locust users) at the end of the stage."""
    rate: float
    """Target iterations per second at the end of the stage (all workers together)."""
    ramp: bool = True


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    stages: tuple[Stage, ...]
    mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    presets: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Preset name → (scale, time_scale)."""
    scale: float = 1.0
    time_scale: float = 1.0
    preset: str | None = None

    # --- the shape ---------------------------------------------------------------------------

    @property
    def duration(self) -> float:
        return sum(stage.duration for stage in self.stages)

    @property
    def peak_rate(self) -> float:
        return max(stage.rate for stage in self.stages)

    @property
    def peak_users(self) -> int:
        return max(stage.users for stage in self.stages)

    def stage_at(self, elapsed: float) -> tuple[int, Stage, float] | None:
        """The stage running ``elapsed`` seconds into the run (index, stage, seconds into
        it); None once the last stage has ended."""
        begun = 0.0
        for index, stage in enumerate(self.stages):
            if elapsed < begun + stage.duration:
                return index, stage, elapsed - begun
            begun += stage.duration
        return None

    def _interpolate(self, elapsed: float, attribute: str) -> float:
        found = self.stage_at(elapsed)
        if found is None:
            return 0.0
        index, stage, into = found
        end = float(getattr(stage, attribute))
        if not stage.ramp or stage.duration <= 0:
            return end
        start = float(getattr(self.stages[index - 1], attribute)) if index else 0.0
        return start + (end - start) * into / stage.duration

    def rate_at(self, elapsed: float) -> float:
        """Target iterations per second at ``elapsed`` (0 after the end)."""
        return self._interpolate(elapsed, "rate")

    def users_at(self, elapsed: float) -> int:
        """Users at ``elapsed``: never fewer than one while the run lasts."""
        if self.stage_at(elapsed) is None:
            return 0
        return max(1, math.ceil(self._interpolate(elapsed, "users")))

    # --- shrinking -----------------------------------------------------------------------------

    def scaled(
        self,
        *,
        preset: str | None = None,
        scale: float | None = None,
        time_scale: float | None = None,
    ) -> Profile:
        """This profile at a preset and/or explicit factors (explicit ones win)."""
        base_scale, base_time = 1.0, 1.0
        if preset is not None:
            if preset not in self.presets:
                known = ", ".join(sorted(self.presets)) or "none"
                raise ProfileError(f"profile {self.name!r} has no preset {preset!r} ({known})")
            base_scale, base_time = self.presets[preset]
        factor = base_scale if scale is None else scale
        time_factor = base_time if time_scale is None else time_scale
        if factor <= 0 or time_factor <= 0:
            raise ProfileError("--scale and --time-scale must be positive")
        stages = tuple(
            replace(
                stage,
                duration=stage.duration * time_factor,
                users=max(1, math.ceil(stage.users * factor)) if stage.users else 0,
                rate=stage.rate * factor,
            )
            for stage in self.stages
        )
        return replace(
            self,
            stages=stages,
            scale=self.scale * factor,
            time_scale=self.time_scale * time_factor,
            preset=preset,
        )

    def with_mix(self, mix: Mapping[str, float]) -> Profile:
        return replace(self, mix=_check_mix(dict(mix), f"profile {self.name!r}"))

    def describe(self) -> dict[str, Any]:
        """What a results file and InfluxDB record about the profile as run."""
        return {
            "name": self.name,
            "preset": self.preset,
            "scale": self.scale,
            "time_scale": self.time_scale,
            "duration_s": self.duration,
            "peak_rate": self.peak_rate,
            "peak_users": self.peak_users,
            "mix": dict(self.mix),
            "stages": [
                {
                    "name": s.name,
                    "duration_s": s.duration,
                    "users": s.users,
                    "rate": s.rate,
                    "ramp": s.ramp,
                }
                for s in self.stages
            ],
        }


def _check_mix(mix: dict[str, Any], where: str) -> dict[str, float]:
    unknown = sorted(set(mix) - set(JOURNEYS))
    if unknown:
        raise ProfileError(f"{where}: unknown journey(s) in mix: {', '.join(unknown)}")
    weights = {name: float(mix.get(name, 0)) for name in JOURNEYS}
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ProfileError(f"{where}: mix weights must be non-negative and not all zero")
    return {name: w for name, w in weights.items() if w > 0}


def _number(data: Mapping[str, Any], key: str, where: str, default: Any = None) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ProfileError(f"{where}: {key!r} must be a non-negative number, got {value!r}")
    return float(value)


def parse(data: Mapping[str, Any], source: str) -> Profile:
    """A profile from its YAML mapping; ``source`` names the file in error messages."""
    if not isinstance(data, Mapping):
        raise ProfileError(f"{source}: a profile is a mapping")
    allowed = {"name", "description", "stages", "mix", "presets"}
    if extra := sorted(set(data) - allowed):
        raise ProfileError(f"{source}: unknown field(s) {', '.join(extra)}")
    stages_data = data.get("stages")
    if not isinstance(stages_data, list) or not stages_data:
        raise ProfileError(f"{source}: 'stages' must be a non-empty list")
    stages = []
    for index, raw in enumerate(stages_data):
        where = f"{source}: stages[{index}]"
        if not isinstance(raw, Mapping):
            raise ProfileError(f"{where} must be a mapping")
        if extra := sorted(set(raw) - {"name", "duration", "users", "rate", "ramp"}):
            raise ProfileError(f"{where}: unknown field(s) {', '.join(extra)}")
        stages.append(
            Stage(
                name=str(raw.get("name", f"stage {index + 1}")),
                duration=_number(raw, "duration", where),
                users=int(_number(raw, "users", where)),
                rate=_number(raw, "rate", where),
                ramp=bool(raw.get("ramp", True)),
            )
        )
    presets: dict[str, tuple[float, float]] = {}
    for name, raw in (data.get("presets") or {}).items():
        where = f"{source}: presets.{name}"
        if not isinstance(raw, Mapping):
            raise ProfileError(f"{where} must be a mapping of scale and time_scale")
        presets[str(name)] = (_number(raw, "scale", where), _number(raw, "time_scale", where))
    return Profile(
        name=str(data.get("name") or Path(source).stem),
        description=str(data.get("description", "")),
        stages=tuple(stages),
        mix=_check_mix(dict(data.get("mix") or DEFAULT_MIX), source),
        presets=presets,
    )


def available(directory: Path = PROFILES_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load(name: str, directory: Path = PROFILES_DIR) -> Profile:
    """``load("baseline")`` or a path to a YAML file."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else directory / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(available(directory)) or "none"
        raise ProfileError(f"no profile {name!r} (known: {known})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    return parse(data, str(path))


def parse_mix(text: str) -> dict[str, float]:
    """``search=50,auth=50`` → weights (the ``--mix`` option)."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = part.partition("=")
        try:
            mix[name.strip()] = float(weight)
        except ValueError:
            raise ProfileError(f"--mix: {part!r} is not journey=weight") from None
        if not sep:
            raise ProfileError(f"--mix: {part!r} is not journey=weight")
    return _check_mix(mix, "--mix")
