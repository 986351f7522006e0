"""The load engine inside Locust: options, the profile's shape, pacing, recording, results.

``load/locustfile.py`` imports this module; ``register(environment)`` wires it through Locust's
own event hooks (no subclass of a runner), in whichever role the process has:

* every process samples its own CPU, to tell a saturated generator from a slow system;
* a *worker* (or the only process) prepares its test users before the window, runs the
  open-model pacer and records each request into per-second HDR histograms;
* the *master* (or the only process) merges the workers' histograms, writes per-second points
  and run events to InfluxDB, prints progress, and at the end writes the results file, judges
  ``load/slo.yaml`` and sets the exit code: 0 pass, 1 threshold breached, 2 could not judge.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import psutil
from locust import LoadTestShape, events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.load import journeys, profiles, results, runinfo
from harness.load import slo as slo_spec
from harness.load.influx import InfluxWriter, sink_for
from harness.load.pacing import ArrivalPacer
from harness.load.pool import Pool, PoolError, prepare
from harness.load.stats import Recorder, Second, Series

log = logging.getLogger("harness.load")
SATURATION_PERCENT = 90.0
REPORT_GRACE_SECONDS = {"local": 1.5, "master": 6.0}
"""How long a second stays open for reports before it is written (workers report every 3 s)."""
PROGRESS_SECONDS = 5.0
MAX_SPAWN_RATE = 100
"""Users spawned per second at most (Locust warns above 100); idle users cost little, and the
arrival rate, not the user count, sets the load."""
logging.getLogger("httpx").setLevel(logging.WARNING)  # preparation requests are not news


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser.add_argument_group("Media Gateway load profile")
    group.add_argument(
        "--load-profile", default="baseline", help="load/profiles/<name>.yaml (or a path)"
    )
    group.add_argument("--preset", default="smoke", help="smoke, ci, … ('none': scale 1.0)")
    group.add_argument("--scale", type=float, default=None, help="Users and rate factor")
    group.add_argument("--time-scale", type=float, default=None, help="Duration factor")
    group.add_argument("--mix", default="", help="journey=weight,… (default: the profile's)")
    group.add_argument("--influx", default=os.environ.get("MG_INFLUX_URL", ""), help="InfluxDB")
    group.add_argument("--results-dir", default="reports/out/runs", help="Where runs are kept")
    group.add_argument("--run-id", default="", help="Default: time, profile, preset, random")
    group.add_argument("--slo", default=str(slo_spec.SLO_FILE), help="The SLO spec")
    group.add_argument("--pool-size", type=int, default=24, help="Test accounts (all workers)")
    group.add_argument("--accounts", default="", help="JSON file of existing accounts")
    group.add_argument(
        "--mailbox",
        default=os.environ.get("MG_TARGET_MAILBOX", ""),
        help="The stack's e-mail outbox (to register test accounts)",
    )
    group.add_argument("--stack-mode", default="external", help="Recorded in the fingerprint")
    group.add_argument("--stack-workers", type=int, default=1, help="Recorded in the fingerprint")
    group.add_argument(
        "--abort-on-fail", action="store_true", help="Stop as soon as a threshold is breached"
    )


def role_of(environment: Environment) -> str:
    if isinstance(environment.runner, MasterRunner):
        return "master"
    if isinstance(environment.runner, WorkerRunner):
        return "worker"
    return "local"


def profile_from(options: Any) -> profiles.Profile:
    profile = profiles.load(options.load_profile)
    preset = None if options.preset in ("", "none") else options.preset
    profile = profile.scaled(preset=preset, scale=options.scale, time_scale=options.time_scale)
    if options.mix:
        profile = profile.with_mix(profiles.parse_mix(options.mix))
    return profile


@dataclass
class CpuSampler:
    """This process's CPU, every second (psutil), to detect a saturated generator."""

    samples: list[float] = field(default_factory=list)
    _greenlet: Any = None

    def start(self) -> None:
        process = psutil.Process()
        process.cpu_percent(None)

        def loop() -> None:
            while True:
                gevent.sleep(1.0)
                self.samples.append(process.cpu_percent(None))

        self._greenlet = gevent.spawn(loop)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)


class Engine:
    """The load run in this process; see the module docstring for the roles."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        assert environment.parsed_options is not None  # Locust parses before `init`
        self.options = environment.parsed_options
        self.role = role_of(environment)
        self.profile = profile_from(self.options)
        self.slo = slo_spec.load(Path(self.options.slo))
        self.recorder = Recorder()
        self.cpu = CpuSampler()
        self.worker_cpu: dict[str, list[float]] = {}
        self.rng = random.Random()
        self.started_at = 0.0
        self.ended_at = 0.0
        self.processes = 1
        self.pacer: ArrivalPacer | None = None
        self.pool: Pool | None = None
        self.devices: journeys.Devices | None = None
        self.writer: InfluxWriter | None = None
        self.stage_index = -1
        self.aborted = ""
        self.events: list[dict[str, Any]] = []
        self.recent: list[Second] = []
        self.timeline: dict[int, dict[str, Any]] = {}
        self.users_seen: dict[int, int] = {}
        """Running users by epoch second, sampled as the seconds pass."""
        self.run_id = self.options.run_id or runinfo.new_run_id(
            self.profile.name, self.profile.preset
        )
        workers = getattr(self.options, "processes", 1) or 1
        self.env = runinfo.environment(
            self.options.stack_mode, self.options.stack_workers, max(1, int(workers))
        )
        self.code = runinfo.code()
        self.machine: dict[str, Any] | None = None
        """The machine's speed before the window (``runinfo.machine_reference``)."""

    # --- tags every point carries ------------------------------------------------------------

    @property
    def tags(self) -> dict[str, str]:
        return {
            "run_id": self.run_id,
            "profile": self.profile.name,
            "preset": self.profile.preset or "custom",
            "git_sha": self.code["git_sha"][:12],
            "branch": self.code["branch"],
            "fingerprint": self.env.fingerprint,
        }

    # --- worker side -------------------------------------------------------------------------

    def prepare_users(self) -> None:
        """Test accounts and titles, before the window (the master prepares them for its
        workers, which get their share with the start message)."""
        tag = f"load-{self.run_id[-4:]}-{os.getpid()}"
        began = time.monotonic()
        self.pool = prepare(
            self.environment.host or "",
            max(1, self.options.pool_size),
            mailbox_dir=self.options.mailbox or None,
            accounts_file=self.options.accounts or None,
            tag=tag,
        )
        log.warning(
            "prepared %d test accounts and %d titles in %.1f s (not measured)",
            len(self.pool.accounts),
            len(self.pool.titles),
            time.monotonic() - began,
        )

    def use_pool(self, pool: Pool) -> None:
        self.pool = pool
        self.devices = journeys.Devices(
            self.environment.host or "", self.environment.events.request.fire
        )

    def start_pacer(self, started_at: float, processes: int) -> None:
        self.started_at, self.processes = started_at, max(1, processes)
        profile = self.profile
        self.pacer = ArrivalPacer(
            lambda elapsed: profile.rate_at(elapsed) / self.processes,
            started_at=started_at,
            clock=time.time,
            on_dropped=self.recorder.record_dropped,
        )
        self.pacer.start()

    def on_request(self, request_type: str, name: str, response_time: float, **kw: Any) -> None:
        context = kw.get("context") or {}
        lateness_ms = float(context.get("lateness", 0.0)) * 1000
        started = kw.get("start_time") or time.time() - response_time / 1000
        self.recorder.record(
            f"{request_type} {name}",
            response_time,
            response_time + lateness_ms,
            kw.get("exception") is not None,
            started + response_time / 1000,
        )

    def iterate(self, request: journeys.Request) -> None:
        """One ticket: wait for it, then run the journey the mix picks."""
        if self.pacer is None or self.pool is None:
            gevent.sleep(0.1)
            return
        ticket = self.pacer.take(timeout=1.0)
        if ticket is None:
            return
        now = time.time()
        self.recorder.record_iteration(now)
        iteration = journeys.Iteration(request, self.pool, self.rng, max(0.0, now - ticket.due))
        names, weights = zip(*self.profile.mix.items(), strict=True)
        journey = self.rng.choices(names, weights)[0]
        if journey == "sync":
            assert self.devices is not None
            journeys.sync(iteration, self.devices)
        else:
            journeys.JOURNEYS[journey](iteration)

    # --- master side ---------------------------------------------------------------------------

    def begin(self) -> None:
        """The run's start, once: whichever comes first, the shape's first tick or
        ``test_start``, so that the start event precedes the first stage event."""
        if not self.started_at:
            self.started_at = time.time()
            self.event("start", f"run {self.run_id} started", at=self.started_at)

    def event(self, kind: str, text: str, at: float | None = None, **fields: Any) -> None:
        at = time.time() if at is None else at
        self.events.append({"at": at, "kind": kind, "text": text, **fields})
        if self.writer is not None:
            self.writer.point("events", {**self.tags, "kind": kind}, {"text": text}, at)

    def write_seconds(self, seconds: list[Second]) -> None:
        """Each closed second into the timeline and, as points, into InfluxDB (each
        endpoint's figures computed once)."""
        now_users = self.environment.runner.user_count if self.environment.runner else 0
        for second in seconds:
            users = self.users_seen.get(second.at, now_users)
            elapsed = second.at - self.started_at
            found = self.profile.stage_at(elapsed)
            stage = found[1].name if found else "done"
            target = round(self.profile.rate_at(elapsed), 3)
            figures = {
                name: {k: v for k, v in series.summary().items() if not k.startswith("mean")}
                for name, series in second.endpoints.items()
            }
            self.timeline[second.at] = {
                "at": second.at,
                "stage": stage,
                "users": users,
                "target_rate": target,
                "iterations": second.iterations,
                "dropped": second.dropped,
                "endpoints": figures,
            }
            if self.writer is None:
                continue
            for endpoint, fields in figures.items():
                self.writer.point(
                    "requests", {**self.tags, "endpoint": endpoint}, fields, second.at
                )
            self.writer.point(
                "run",
                {**self.tags, "stage": stage},
                {
                    "users": users,
                    "target_rate": target,
                    "achieved_rate": second.iterations,
                    "dropped": second.dropped,
                    "requests": sum(s.count for s in second.endpoints.values()),
                    "failures": sum(s.failures for s in second.endpoints.values()),
                },
                second.at,
            )
        self.recent = (self.recent + seconds)[-int(PROGRESS_SECONDS) :]

    def progress(self) -> None:
        """Every second: write the seconds now closed; every few seconds, a progress line."""
        grace = REPORT_GRACE_SECONDS["local" if self.role == "local" else "master"]
        ticks = 0
        while True:
            gevent.sleep(1.0)
            ticks += 1
            if self.environment.runner is not None:
                self.users_seen[int(time.time())] = self.environment.runner.user_count
            self.write_seconds(self.recorder.closed(time.time() - grace))
            if ticks % int(PROGRESS_SECONDS) == 0:
                print(self.progress_line(), flush=True)
                if self.options.abort_on_fail and not self.aborted:
                    self.check_abort()

    def progress_line(self) -> str:
        elapsed = time.time() - self.started_at
        found = self.profile.stage_at(elapsed)
        stage = found[1].name if found else "done"
        window = Series()
        iterations = dropped = 0
        for second in self.recent:
            for series in second.endpoints.values():
                window.add(series)
            iterations += second.iterations
            dropped += second.dropped
        span = max(1, len(self.recent))
        summary = window.summary()
        p95 = f"{summary['p95']:.0f} ms" if "p95" in summary else "—"
        errors = 100 * window.failures / window.count if window.count else 0.0
        users = self.environment.runner.user_count if self.environment.runner else 0
        cpu = max(self.cpu.samples[-5:] or [0.0])
        return (
            f"[{elapsed:6.0f}s] {stage:<10} users {users:5d}  rate {iterations / span:6.1f}/s "
            f"(target {self.profile.rate_at(elapsed):6.1f})  p95 {p95:>8}  "
            f"errors {errors:4.1f}%  dropped {self.recorder.dropped + dropped:5d}  "
            f"cpu {cpu:3.0f}%"
        )

    def check_abort(self) -> None:
        judgements = slo_spec.evaluate(
            self.slo,
            self.recorder.summaries(),
            dropped=self.recorder.dropped,
            iterations_due=self.recorder.iterations + self.recorder.dropped,
        )
        failed = [j for j in judgements if j.outcome is slo_spec.Outcome.FAIL]
        if failed and time.time() - self.started_at > 10:
            first = failed[0].threshold
            self.aborted = f"threshold breached: {first.scope} {first.metric} > {first.limit}"
            self.event("abort", self.aborted)
            runner = self.environment.runner
            if runner is not None:
                gevent.spawn(runner.quit)

    def finish(self) -> int:
        """Write everything down, print the tables, return the exit code."""
        self.ended_at = time.time()
        self.write_seconds(self.recorder.flush())
        self.event("stop", f"run {self.run_id} stopped", at=self.ended_at)
        summaries = self.recorder.summaries()
        if self.writer is not None:
            for endpoint, summary in summaries.items():
                self.writer.point(
                    "summary",
                    {**self.tags, "endpoint": endpoint},
                    {k: v for k, v in summary.items() if not k.startswith("mean")},
                    self.ended_at,
                )
        influx = self.writer.close() if self.writer is not None else None
        report = results.build(self, summaries, influx)
        path = results.write(Path(self.options.results_dir), report, self.recorder)
        for row in results.console(report):
            print(row, flush=True)
        print(f"results: {path}", flush=True)
        return int(report["exit_code"])

    def cpu_samples(self) -> list[float]:
        samples = list(self.cpu.samples)
        for worker in self.worker_cpu.values():
            samples += worker
        return samples


_ENGINES: dict[int, Engine] = {}


def engine_of(environment: Environment) -> Engine:
    return _ENGINES[id(environment)]


def register(environment: Environment) -> Engine:
    """Wire the engine into this Locust process (called from the ``init`` event)."""
    engine = Engine(environment)
    _ENGINES[id(environment)] = engine
    hooks = environment.events
    if engine.role == "worker":
        # Registered before anything can yield: a worker is already connected to its master
        # when `init` fires, and the start message may arrive at once.
        assert environment.runner is not None
        environment.runner.register_message("mgh_start", _on_start_message)
        hooks.report_to_master.add_listener(_report_to_master)
    if engine.role in ("local", "worker"):
        hooks.request.add_listener(engine.on_request)
    if engine.role in ("local", "master"):
        engine.machine = runinfo.machine_reference()
        try:
            engine.prepare_users()
        except PoolError as exc:
            log.error("%s", exc)
            environment.process_exit_code = 2
            raise SystemExit(2) from None
    if engine.role in ("local", "master"):
        url = engine.options.influx
        if url:
            engine.writer = InfluxWriter(sink_for(url))
    hooks.test_start.add_listener(_on_test_start)
    hooks.test_stop.add_listener(_on_test_stop)
    if engine.role == "master":
        hooks.worker_report.add_listener(_on_worker_report)
        assert environment.runner is not None
        environment.runner.register_message("mgh_final", _on_final_message)
    engine.cpu.start()
    return engine


def _on_test_start(environment: Environment, **_: Any) -> None:
    engine = engine_of(environment)
    if engine.role == "worker":
        return  # the master's message starts the pacer
    engine.begin()
    gevent.spawn(engine.progress)
    assert engine.pool is not None
    if engine.role == "local":
        engine.use_pool(engine.pool)
        engine.start_pacer(engine.started_at, 1)
        return
    runner = environment.runner
    assert isinstance(runner, MasterRunner)
    workers = max(1, runner.worker_count)
    engine.processes = workers
    runner.send_message(
        "mgh_start",
        {"started_at": engine.started_at, "workers": workers, "pool": engine.pool.to_json()},
    )


def _on_start_message(environment: Environment, msg: Any, **_: Any) -> None:
    engine = engine_of(environment)
    workers = int(msg.data["workers"])
    index = getattr(environment.runner, "worker_index", 0) % workers
    engine.use_pool(Pool.share(msg.data["pool"], index, workers))
    engine.start_pacer(float(msg.data["started_at"]), workers)


def _report(engine: Engine) -> dict[str, Any]:
    return {
        "mgh_seconds": engine.recorder.take(),
        "mgh_cpu": list(engine.cpu.samples),
        "mgh_worker": os.getpid(),
    }


def _report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    for engine in _ENGINES.values():
        if engine.role == "worker":
            data.update(_report(engine))


def _merge_report(engine: Engine, data: dict[str, Any]) -> None:
    engine.recorder.merge(data.get("mgh_seconds", []))
    if "mgh_cpu" in data:
        engine.worker_cpu[str(data.get("mgh_worker"))] = list(data["mgh_cpu"])


def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    for engine in _ENGINES.values():
        if engine.role == "master":
            _merge_report(engine, data)


def _on_final_message(environment: Environment, msg: Any, **_: Any) -> None:
    """A worker's last seconds, sent when it stops: before it reports zero users, so the
    master has them when its own ``test_stop`` writes the results."""
    _merge_report(engine_of(environment), msg.data)


def _on_test_stop(environment: Environment, **_: Any) -> None:
    engine = engine_of(environment)
    if engine.pacer is not None:
        engine.pacer.stop()
    if engine.devices is not None:
        engine.devices.close()
    if engine.role == "worker":
        assert environment.runner is not None
        environment.runner.send_message("mgh_final", _report(engine))
        return
    engine.cpu.stop()
    environment.process_exit_code = engine.finish()


class ProfileShape(LoadTestShape):
    """Users follow the profile's stages (the pacer follows its rate); stage changes are run
    events. Stops at the profile's end."""

    def tick(self) -> tuple[int, float] | None:
        environment = self.runner.environment if self.runner is not None else None
        if environment is None:
            return None
        engine = _ENGINES.get(id(environment))
        if engine is None:
            return None
        elapsed = self.get_run_time()
        found = engine.profile.stage_at(elapsed)
        engine.begin()
        reached = len(engine.profile.stages) - 1 if found is None else found[0]
        while engine.stage_index < reached:  # every stage gets its event, even one shorter
            engine.stage_index += 1  # than a tick (a smoke preset of a 24 h profile)
            stage = engine.profile.stages[engine.stage_index]
            engine.event(
                "stage",
                f"stage {stage.name}: {stage.users} users, {stage.rate:g} it/s",
                stage=stage.name,
            )
        if found is None or engine.aborted:
            return None
        users = engine.profile.users_at(elapsed)
        return users, float(min(max(users, 1), MAX_SPAWN_RATE))
