"""The sweep driver: runs in every API process and advances the sweeps it holds a lease on.

Each tick it takes (or renews) the lease of every active sweep it can (models/sweeps.py
claim_sweep: one conditional UPDATE, so with several API processes exactly one drives a
given sweep), then for each sweep it holds:

- rebuilds the Optuna study from the sweep's trial runs when it has none in memory (just
  took the sweep over: started, restarted after kill -9, or another process's lease ran
  out), adopting the trials still running (resolvers/sweep_search.py build_study);
- reports each running trial's new intermediate values (written by its worker with its
  progress) and asks the pruner; a pruned trial is asked to stop and ends CANCELLED with
  `pruned` set (a cancel under another name: the job's cancel path, no new run status);
- tells Optuna each finished trial's objectiveValue (FAIL for a failed or cancelled one),
  and writes bestRun, bestValue, bestValueHistory and parameterImportance;
- keeps `parallelism` trials in flight, each a training run created through trainModel's
  own path with the sweep's id and the next trial number (unique per sweep: a trial can
  never be created twice). Trials count against their owner's MAX_ACTIVE_RUNS_PER_USER:
  at the limit the driver waits for one to end instead of failing the trial;
- ends the sweep: COMPLETED once `maxTrials` trials finished (FAILED if none completed),
  or when its time budget is spent (running trials are cancelled first).

Every trial that was created is finished by its runner or by the reaper (a lost worker
fails its run), so after a crash of every process the sweep still ends with exactly
maxTrials finished trials: none lost, none started twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import socket
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from models.accounts import Identity, User, identity_of
from models.sweeps import (
    ACTIVE_SWEEP_STATUSES,
    Sweep,
    SweepStatus,
    claim_sweep,
    move_sweep,
    release_sweep,
)
from models.training_runs import ACTIVE_STATUSES, RunStatus, TrainingRun
from resolvers.errors import FieldErrorCode
from resolvers.sweep_search import Method, Pruning, SearchSpace, TrialRecord, build_study
from resolvers.sweeps import cancel_trials, maximizes
from resolvers.train_model import TrainRequest, queue_run
from trainer.artifacts import ArtifactPaths
from trainer.jobs.runners import JobRunner
from trainer.ml.algorithms import ALGORITHMS, Algorithm, ParameterValue

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger("resolvers.sweep_driver")

__all__ = ["LaunchTrial", "QuotaFull", "SweepDriver", "TrialLaunch"]

_TRIAL_COLUMNS = (
    "id",
    "trial_number",
    "status",
    "pruned",
    "algorithm",
    "parameters",
    "objective_value",
    "intermediate_values",
)


class QuotaFull(Exception):
    """The sweep's owner has MAX_ACTIVE_RUNS_PER_USER runs active: try again later."""


@dataclass(frozen=True)
class TrialLaunch:
    """One trial to create: which sweep, its number, what it trains and how it is judged."""

    sweep: Sweep
    number: int
    algorithm: Algorithm
    parameters: dict[str, ParameterValue]


# Creates the trial's run (QUEUED, handed to the runner) and returns its id; raises
# QuotaFull when the owner is at the limit. Built by the app factory over trainModel's path.
LaunchTrial = Callable[[TrialLaunch], Awaitable[int]]


@dataclass
class _Held:
    """What this process knows of a sweep it drives; rebuilt from the database at will."""

    study: optuna.Study
    space: SearchSpace
    live: dict[int, optuna.Trial] = field(default_factory=dict)  # trial number -> trial
    reported: dict[int, int] = field(default_factory=dict)  # trial number -> last step
    told: set[int] = field(default_factory=set)


def driver_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class SweepDriver:
    def __init__(
        self,
        launch: LaunchTrial,
        *,
        interval: float,
        lease_seconds: float,
        name: str | None = None,
    ) -> None:
        self._launch = launch
        self._interval = interval
        self._lease_seconds = lease_seconds
        self.name = name or driver_name()
        self._held: dict[int, _Held] = {}
        # Sweeps whose owner was at MAX_ACTIVE_RUNS_PER_USER at the last launch: their
        # study is rebuilt at each tick until a slot frees, which is no news to log.
        self._waiting: set[int] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Look at the sweeps now (a sweep was started or cancelled)."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for sweep_id in list(self._held):
            with contextlib.suppress(Exception):
                await release_sweep(sweep_id, self.name)
        self._held.clear()

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("sweep driver: tick failed, retrying", exc_info=True)
                self._held.clear()  # rebuilt from the database at the next tick
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()

    async def tick(self) -> None:
        """One pass over the active sweeps (public: tests and benchmarks call it)."""
        active = await Sweep.filter(
            status__in=[s.value for s in ACTIVE_SWEEP_STATUSES]
        ).values_list("id", flat=True)
        for sweep_id in [int(i) for i in active]:  # type: ignore[call-overload]
            if not await claim_sweep(sweep_id, self.name, self._lease_seconds):
                self._held.pop(sweep_id, None)
                continue
            sweep = await Sweep.get(id=sweep_id)
            await self._drive(sweep)
        for sweep_id in set(self._held) - {int(i) for i in active}:  # type: ignore[call-overload]
            self._held.pop(sweep_id, None)

    async def _drive(self, sweep: Sweep) -> None:
        if sweep.status is SweepStatus.QUEUED:
            now = datetime.now(UTC)
            if not await move_sweep(
                sweep.id, SweepStatus.QUEUED, SweepStatus.RUNNING, started_at=now
            ):
                return
            sweep.status, sweep.started_at = SweepStatus.RUNNING, now
            logger.info(
                "sweep %s started on %s (%s, %d trials)",
                sweep.id,
                self.name,
                sweep.method,
                sweep.max_trials,
            )
        trials = (
            await TrainingRun.filter(sweep_id=sweep.id)
            .order_by("trial_number")
            .values(*_TRIAL_COLUMNS)
        )
        held = self._held.get(sweep.id)
        if held is None:
            held = self._held[sweep.id] = self._rebuild(sweep, trials)
            # Trials that ended while nobody drove the sweep: their values count too.
            await self._record_best(sweep, held, trials)
        await self._follow(sweep, held, trials)
        if await self._finish_if_done(sweep, held, trials):
            self._held.pop(sweep.id, None)
            return
        await self._launch_more(sweep, held, trials)

    def _rebuild(self, sweep: Sweep, trials: list[dict[str, Any]]) -> _Held:
        import optuna

        space = SearchSpace.from_json(sweep.input["space"])
        records = [_record(trial) for trial in trials]
        study = build_study(
            method=Method(sweep.method),
            pruning=Pruning(sweep.pruning),
            space=space,
            seed=sweep.seed,
            maximize=maximizes(sweep.objective),
            trials=records,
        )
        held = _Held(study=study, space=space)
        for record in records:
            if record.state == "RUNNING":
                trial_id = study._storage.get_trial_id_from_study_id_trial_number(
                    study._study_id, record.number
                )
                held.live[record.number] = optuna.Trial(study, trial_id)
                held.reported[record.number] = max(record.intermediate, default=-1)
            else:
                held.told.add(record.number)
        if trials:
            logger.log(
                logging.DEBUG if sweep.id in self._waiting else logging.INFO,
                "sweep %s taken over by %s: %d trials rebuilt, %d adopted while running",
                sweep.id,
                self.name,
                len(records),
                len(held.live),
            )
        return held

    async def _follow(self, sweep: Sweep, held: _Held, trials: list[dict[str, Any]]) -> None:
        """Report intermediate values, prune, and tell Optuna the trials that ended."""
        from optuna.trial import TrialState

        prunes = sweep.pruning != Pruning.NONE.value
        changed = False
        for row in trials:
            number = row["trial_number"]
            trial = held.live.get(number)
            if trial is None:
                continue
            status = RunStatus(row["status"])
            for step, value in sorted(_steps(row["intermediate_values"]).items()):
                if step > held.reported.get(number, -1) and math.isfinite(value):
                    trial.report(value, step)
                    held.reported[number] = step
            if (
                status is RunStatus.RUNNING
                and prunes
                and not row["pruned"]
                and 0 <= held.reported.get(number, -1) < _grown_at(row)
                and trial.should_prune()
                and await TrainingRun.filter(id=row["id"], status=RunStatus.RUNNING).update(
                    cancel_requested=True, pruned=True
                )
            ):
                logger.info(
                    "sweep %s trial %s (run %s) pruned at step %s",
                    sweep.id,
                    number,
                    row["id"],
                    held.reported[number],
                )
            if status in ACTIVE_STATUSES:
                continue
            value = row["objective_value"]
            if status is RunStatus.COMPLETED and value is not None and math.isfinite(value):
                held.study.tell(trial, value)
                outcome = f"objective {value:.4f}"
            elif status is RunStatus.CANCELLED and row["pruned"]:
                held.study.tell(trial, state=TrialState.PRUNED)
                outcome = "pruned"
            else:
                held.study.tell(trial, state=TrialState.FAIL)
                outcome = status.value.lower()
            del held.live[number]
            held.told.add(number)
            changed = True
            logger.info(
                "sweep %s trial %s (run %s) finished: %s", sweep.id, number, row["id"], outcome
            )
        if changed:
            await self._record_best(sweep, held, trials)

    async def _record_best(self, sweep: Sweep, held: _Held, trials: list[dict[str, Any]]) -> None:
        """bestRun, bestValue and the running best after each finished trial (in the order
        trials finished, by trial number among those finished together), and Optuna's
        parameter importance once two completed trials differ."""
        from optuna.trial import TrialState

        run_of = {row["trial_number"]: row["id"] for row in trials}
        maximize = maximizes(sweep.objective)
        history = list(sweep.best_value_history or [])
        recorded = {entry["trial"] for entry in history}
        best = sweep.best_value
        best_run = sweep.best_run_id
        for frozen in held.study.get_trials(deepcopy=False):
            if not frozen.state.is_finished() or frozen.number in recorded:
                continue
            value = frozen.value if frozen.state is TrialState.COMPLETE else None
            if value is not None and (best is None or (value > best if maximize else value < best)):
                best, best_run = value, run_of.get(frozen.number)
            history.append(
                {"trial": frozen.number, "runId": run_of.get(frozen.number), "value": best}
            )
        importance = sweep.parameter_importance
        completed = held.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(completed) >= 2 and len({repr(sorted(t.params.items())) for t in completed}) >= 2:
            importance = _importance(held.study) or importance
        await Sweep.filter(id=sweep.id).update(
            best_value=best,
            best_run_id=best_run,
            best_value_history=history,
            parameter_importance=importance,
        )
        sweep.best_value, sweep.best_run_id = best, best_run
        sweep.best_value_history, sweep.parameter_importance = history, importance

    def _over_budget(self, sweep: Sweep) -> bool:
        if sweep.time_budget_seconds is None or sweep.started_at is None:
            return False
        return (datetime.now(UTC) - sweep.started_at).total_seconds() >= sweep.time_budget_seconds

    async def _finish_if_done(
        self, sweep: Sweep, held: _Held, trials: list[dict[str, Any]]
    ) -> bool:
        active = [row for row in trials if RunStatus(row["status"]) in ACTIVE_STATUSES]
        over_budget = self._over_budget(sweep)
        if over_budget and active:
            await cancel_trials(
                sweep.id, f"sweep {sweep.id}: time budget of {sweep.time_budget_seconds:g}s spent"
            )
            return False
        if active or (len(trials) < sweep.max_trials and not over_budget):
            return False
        completed = sum(RunStatus(row["status"]) is RunStatus.COMPLETED for row in trials)
        target = SweepStatus.COMPLETED if completed else SweepStatus.FAILED
        reason = None if completed else "no trial completed"
        if await move_sweep(
            sweep.id,
            SweepStatus.RUNNING,
            target,
            only_if={"driver": self.name},
            error_message=reason,
        ):
            logger.info(
                "sweep %s finished %s: %d trials, %d completed, best %s (run %s)%s",
                sweep.id,
                target.value,
                len(trials),
                completed,
                sweep.best_value,
                sweep.best_run_id,
                ", time budget spent" if over_budget else "",
            )
        return True

    async def _launch_more(self, sweep: Sweep, held: _Held, trials: list[dict[str, Any]]) -> None:
        created = len(trials)
        in_flight = sum(RunStatus(row["status"]) in ACTIVE_STATUSES for row in trials)
        while (
            created < sweep.max_trials
            and in_flight < sweep.parallelism
            and not self._over_budget(sweep)
        ):
            trial = held.study.ask()
            if trial.number != created:
                # The study and the runs disagree (a run created elsewhere): start afresh.
                self._held.pop(sweep.id, None)
                return
            algorithm, parameters = held.space.sample(trial)
            try:
                run_id = await self._launch(TrialLaunch(sweep, trial.number, algorithm, parameters))
            except TrialRefused as exc:
                self._held.pop(sweep.id, None)
                await move_sweep(
                    sweep.id,
                    SweepStatus.RUNNING,
                    SweepStatus.FAILED,
                    error_message=f"trial {trial.number} was refused: {exc}",
                )
                await cancel_trials(sweep.id, f"sweep {sweep.id} failed")
                logger.error("sweep %s failed: trial %s refused: %s", sweep.id, trial.number, exc)
                return
            except QuotaFull:
                # The asked trial has no run: forget the study, rebuilt at the next tick.
                self._held.pop(sweep.id, None)
                self._waiting.add(sweep.id)
                return
            except Exception:
                self._held.pop(sweep.id, None)
                raise
            self._waiting.discard(sweep.id)
            held.live[trial.number] = trial
            created += 1
            in_flight += 1
            logger.info(
                "sweep %s trial %s queued as run %s: %s %s",
                sweep.id,
                trial.number,
                run_id,
                algorithm.value,
                parameters,
            )
            if not await Sweep.filter(
                id=sweep.id, status=SweepStatus.RUNNING, cancel_requested=False
            ).exists():
                await cancel_trials(sweep.id, f"sweep {sweep.id} ended")  # cancelled meanwhile
                return


def _grown_at(row: dict[str, Any]) -> float:
    """The step at which the trial's model is fully grown (its trees or iterations), or
    infinity for one that does not grow. A score reported at that step is the trial's final
    objective (the worker is only evaluating and saving now): pruning it then would save
    little and throw a finished result away, so, as in an Optuna objective that returns
    after its last report, a trial is pruned only before it."""
    grows_by = ALGORITHMS[Algorithm(row["algorithm"])].grows_by
    size = (row["parameters"] or {}).get(grows_by) if grows_by is not None else None
    return float(size) if isinstance(size, int | float) else math.inf


def _steps(raw: Any) -> dict[int, float]:
    if not raw:
        return {}
    return {int(step): float(value) for step, value in dict(raw).items() if value is not None}


def _record(row: dict[str, Any]) -> TrialRecord:
    status = RunStatus(row["status"])
    if status in ACTIVE_STATUSES:
        state = "RUNNING"
    elif status is RunStatus.COMPLETED:
        state = "COMPLETE"
    elif status is RunStatus.CANCELLED and row["pruned"]:
        state = "PRUNED"
    else:
        state = "FAIL"
    return TrialRecord(
        number=row["trial_number"],
        algorithm=Algorithm(row["algorithm"]),
        parameters=row["parameters"] or {},
        state=state,
        value=row["objective_value"],
        intermediate=_steps(row["intermediate_values"]),
    )


def _importance(study: optuna.Study) -> dict[str, float] | None:
    import optuna

    try:
        with warnings.catch_warnings():
            # "importances will be equal" on few trials: the equal shares say it already.
            warnings.simplefilter("ignore", UserWarning)
            found = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError):
        return None
    return {name: round(float(value), 6) for name, value in found.items()}


class TrialRefused(Exception):
    """trainModel's path refused a trial for a reason other than the owner's quota."""


def trial_launcher(jobs: JobRunner, artifacts: ArtifactPaths) -> LaunchTrial:
    """Trials created exactly as trainModel creates runs (resolvers/train_model.py), as
    their sweep's owner, within the owner's MAX_ACTIVE_RUNS_PER_USER."""

    async def launch(trial: TrialLaunch) -> int:
        sweep = trial.sweep
        owner = await _owner(sweep.created_by_id)
        stored = sweep.input
        folds = stored.get("folds")
        outcome = await queue_run(
            owner,
            TrainRequest(
                dataset_path=sweep.dataset_path,
                test_split=stored["testSplit"],
                random_state=sweep.seed,
                model_version=f"sweep{sweep.id}-t{trial.number}-{secrets.token_hex(3)}",
                notes=f"trial {trial.number} of sweep {sweep.id} ({sweep.name})",
                wait=False,
                algorithm=trial.algorithm,
                parameters=trial.parameters,
                folds=folds,
            ),
            jobs,
            artifacts,
            sweep_id=sweep.id,
            trial_number=trial.number,
            validation_fraction=None if folds else stored["validationFraction"],
            objective=sweep.objective,
        )
        if outcome.training_run is not None:
            return outcome.training_run.id
        if any(e.code is FieldErrorCode.TOO_MANY_ACTIVE_RUNS for e in outcome.errors):
            raise QuotaFull
        raise TrialRefused("; ".join(f"{'.'.join(e.field)}: {e.message}" for e in outcome.errors))

    return launch


async def _owner(user_id: int | None) -> Identity | None:
    if user_id is None:
        return None
    user = await User.get_or_none(id=user_id)
    return None if user is None else await identity_of(user)
