"""A sweep's search space, checked against the algorithms table, and the Optuna study that
searches it, rebuilt from the database whenever a process (re)takes the sweep.

The space is stored as plain JSON on the sweep row (`SearchSpace.as_json`), so every
process reads the same search; the study is never persisted by Optuna: the finished and
running trials are the sweep's runs, and `build_study` adds them to a fresh in-memory
study (parameters, final value, intermediate values), with a sampler seeded from the
sweep's seed and the number of trials already made, so that a driver taking over after a
crash keeps sampling where the last one stopped without repeating its draws.

Optuna parameter names: a parameter's scikit-learn name when the sweep searches one
algorithm; `ALGORITHM.name` and a categorical `algorithm` when it searches several.
GRID discretizes each range into `steps` points (default 3): evenly spaced, or
geometrically on a log scale; whole numbers rounded and duplicates dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from models.sweeps import Pruning
from resolvers.errors import FieldError, FieldErrorCode
from trainer.ml.algorithms import ALGORITHMS, Algorithm, ParameterKind, ParameterValue

if TYPE_CHECKING:
    import optuna

__all__ = [
    "DEFAULT_GRID_STEPS",
    "Method",
    "Pruning",
    "SearchSpace",
    "SpaceEntry",
    "SpaceParameter",
    "TrialRecord",
    "build_study",
    "check_space",
]

DEFAULT_GRID_STEPS = 3
MAX_GRID_STEPS = 20
MAX_GRID_POINTS = 10_000


class Method(StrEnum):
    GRID = "GRID"
    RANDOM = "RANDOM"
    TPE = "TPE"


@dataclass(frozen=True)
class SpaceParameter:
    """One searched parameter: a range (`low`..`high`, on a log scale or not) or `choices`."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[ParameterValue, ...] | None = None
    steps: int = DEFAULT_GRID_STEPS


@dataclass(frozen=True)
class SpaceEntry:
    algorithm: Algorithm
    parameters: tuple[SpaceParameter, ...] = ()


@dataclass(frozen=True)
class SearchSpace:
    entries: tuple[SpaceEntry, ...]

    @property
    def several(self) -> bool:
        return len(self.entries) > 1

    def optuna_name(self, algorithm: Algorithm, parameter: str) -> str:
        return f"{algorithm.value}.{parameter}" if self.several else parameter

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {
                "algorithm": entry.algorithm.value,
                "parameters": [
                    {
                        "name": p.name,
                        "low": p.low,
                        "high": p.high,
                        "log": p.log,
                        "choices": list(p.choices) if p.choices is not None else None,
                        "steps": p.steps,
                    }
                    for p in entry.parameters
                ],
            }
            for entry in self.entries
        ]

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> SearchSpace:
        return cls(
            tuple(
                SpaceEntry(
                    Algorithm(entry["algorithm"]),
                    tuple(
                        SpaceParameter(
                            name=p["name"],
                            low=p["low"],
                            high=p["high"],
                            log=p["log"],
                            choices=tuple(p["choices"]) if p["choices"] is not None else None,
                            steps=p["steps"],
                        )
                        for p in entry["parameters"]
                    ),
                )
                for entry in data
            )
        )

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """Every Optuna parameter of the space (all algorithms'), by Optuna name."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        found: dict[str, optuna.distributions.BaseDistribution] = {}
        if self.several:
            found["algorithm"] = CategoricalDistribution([e.algorithm.value for e in self.entries])
        for entry in self.entries:
            spec = ALGORITHMS[entry.algorithm]
            for p in entry.parameters:
                name = self.optuna_name(entry.algorithm, p.name)
                if p.choices is not None:
                    found[name] = CategoricalDistribution(list(p.choices))
                elif spec.by_name[p.name].kind is ParameterKind.INT:
                    assert p.low is not None
                    assert p.high is not None
                    found[name] = IntDistribution(int(p.low), int(p.high), log=p.log)
                else:
                    assert p.low is not None
                    assert p.high is not None
                    found[name] = FloatDistribution(p.low, p.high, log=p.log)
        return found

    def grid(self) -> dict[str, list[Any]]:
        """GridSampler's search space: each range discretized (see the module's docstring)."""
        grid: dict[str, list[Any]] = {}
        if self.several:
            grid["algorithm"] = [e.algorithm.value for e in self.entries]
        for entry in self.entries:
            spec = ALGORITHMS[entry.algorithm]
            for p in entry.parameters:
                name = self.optuna_name(entry.algorithm, p.name)
                if p.choices is not None:
                    grid[name] = list(p.choices)
                else:
                    whole = spec.by_name[p.name].kind is ParameterKind.INT
                    grid[name] = _points(p, whole)
        return grid

    def grid_size(self) -> int:
        return math.prod(len(values) for values in self.grid().values())

    def trial_of(self, params: Mapping[str, Any]) -> tuple[Algorithm, dict[str, ParameterValue]]:
        """The algorithm and the parameters (searched ones only) a sampled trial trains."""
        algorithm = Algorithm(params["algorithm"]) if self.several else self.entries[0].algorithm
        entry = next(e for e in self.entries if e.algorithm is algorithm)
        chosen = {p.name: params[self.optuna_name(algorithm, p.name)] for p in entry.parameters}
        return algorithm, chosen

    def params_of(
        self, algorithm: Algorithm, parameters: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The Optuna params of a trial run (None if it is not from this space)."""
        entry = next((e for e in self.entries if e.algorithm is algorithm), None)
        if entry is None:
            return None
        params: dict[str, Any] = {"algorithm": algorithm.value} if self.several else {}
        for p in entry.parameters:
            if p.name not in parameters:
                return None
            params[self.optuna_name(algorithm, p.name)] = parameters[p.name]
        return params

    def sample(self, trial: optuna.Trial) -> tuple[Algorithm, dict[str, ParameterValue]]:
        """Ask `trial` for every parameter of one algorithm (conditional on the algorithm
        when several are searched)."""
        distributions = self.distributions()
        params: dict[str, Any] = {}
        if self.several:
            params["algorithm"] = trial._suggest("algorithm", distributions["algorithm"])
        algorithm = Algorithm(params["algorithm"]) if self.several else self.entries[0].algorithm
        entry = next(e for e in self.entries if e.algorithm is algorithm)
        for p in entry.parameters:
            name = self.optuna_name(algorithm, p.name)
            params[name] = trial._suggest(name, distributions[name])
        return self.trial_of(params)


def _points(p: SpaceParameter, whole: bool) -> list[Any]:
    assert p.low is not None
    assert p.high is not None
    if p.steps == 1 or p.low == p.high:
        raw = [p.low]
    elif p.log:
        ratio = (p.high / p.low) ** (1 / (p.steps - 1))
        raw = [p.low * ratio**i for i in range(p.steps)]
    else:
        raw = [p.low + (p.high - p.low) * i / (p.steps - 1) for i in range(p.steps)]
    values: list[Any] = [round(v) if whole else round(v, 10) for v in raw]
    return list(dict.fromkeys(values))


def _to_snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c for i, c in enumerate(name))


def _field(path: list[str | int], message: str, code: FieldErrorCode) -> FieldError:
    return FieldError([str(part) for part in path], message, code)


def check_space(
    entries: Sequence[tuple[str, Sequence[Mapping[str, Any]]]],
) -> tuple[SearchSpace | None, list[FieldError]]:
    """The space asked for, checked against the algorithms table; every refusal names its
    field (["input", "space", 0, "parameters", 1, "max"]). `entries`: (algorithm, [{name,
    min, max, logScale, choices, steps}]) as the client sent them (GraphQL names)."""
    errors: list[FieldError] = []
    built: list[SpaceEntry] = []
    if not entries:
        errors.append(
            _field(["input", "space"], "must search at least one algorithm", FieldErrorCode.INVALID)
        )
    seen: set[Algorithm] = set()
    for index, (algorithm_name, parameters) in enumerate(entries):
        at: list[str | int] = ["input", "space", index]
        algorithm = Algorithm(algorithm_name)
        if algorithm in seen:
            errors.append(
                _field(
                    [*at, "algorithm"],
                    f"{algorithm.value} is searched twice; one entry per algorithm",
                    FieldErrorCode.DUPLICATE,
                )
            )
        seen.add(algorithm)
        spec = ALGORITHMS[algorithm]
        searched: list[SpaceParameter] = []
        names: set[str] = set()
        for number, raw in enumerate(parameters):
            where = [*at, "parameters", number]
            name = raw["name"]
            parameter = spec.by_name.get(name) or spec.by_name.get(_to_snake(name))
            if parameter is None:
                errors.append(
                    _field(
                        [*where, "name"],
                        f"{name!r} is not a parameter of {algorithm.value} "
                        f"(see trainingAlgorithms)",
                        FieldErrorCode.INVALID,
                    )
                )
                continue
            if parameter.name in names:
                errors.append(
                    _field([*where, "name"], f"{name} is searched twice", FieldErrorCode.DUPLICATE)
                )
                continue
            names.add(parameter.name)
            found, problems = _check_parameter(parameter.name, parameter, raw, where)
            errors += problems
            if found is not None:
                searched.append(found)
        built.append(SpaceEntry(algorithm, tuple(searched)))
    if errors:
        return None, errors
    return SearchSpace(tuple(built)), []


def _check_parameter(
    name: str, parameter: Any, raw: Mapping[str, Any], where: list[str | int]
) -> tuple[SpaceParameter | None, list[FieldError]]:
    errors: list[FieldError] = []
    low, high, choices = raw.get("min"), raw.get("max"), raw.get("choices")
    steps = raw.get("steps") or DEFAULT_GRID_STEPS
    if not 1 <= steps <= MAX_GRID_STEPS:
        errors.append(
            _field(
                [*where, "steps"],
                f"must be between 1 and {MAX_GRID_STEPS}, got {steps}",
                FieldErrorCode.OUT_OF_RANGE,
            )
        )
    if choices is not None:
        if low is not None or high is not None:
            errors.append(
                _field(
                    [*where, "choices"],
                    "give either choices or a min/max range, not both",
                    FieldErrorCode.INVALID,
                )
            )
        values = [_choice_value(parameter, c) for c in choices]
        if not values:
            errors.append(
                _field([*where, "choices"], "must list at least one value", FieldErrorCode.INVALID)
            )
        for position, value in enumerate(values):
            if (message := parameter.problem(value)) is not None:
                errors.append(
                    _field(
                        [*where, "choices", position], f"{name} {message}", FieldErrorCode.INVALID
                    )
                )
        if len(set(map(repr, values))) != len(values):
            errors.append(
                _field([*where, "choices"], "lists a value twice", FieldErrorCode.DUPLICATE)
            )
        if errors:
            return None, errors
        return SpaceParameter(name, choices=tuple(values), steps=steps), []
    if parameter.kind in (ParameterKind.CHOICE, ParameterKind.BOOLEAN):
        errors.append(
            _field(
                [*where, "choices"],
                f"{name} is a {parameter.kind.value.lower()}: list its choices",
                FieldErrorCode.INVALID,
            )
        )
        return None, errors
    for key, value in (("min", low), ("max", high)):
        if value is None:
            errors.append(
                _field(
                    [*where, key], f"a range needs {key} (or give choices)", FieldErrorCode.INVALID
                )
            )
        elif (message := parameter.problem(value)) is not None:
            errors.append(_field([*where, key], f"{name} {message}", FieldErrorCode.OUT_OF_RANGE))
    if errors:
        return None, errors
    assert low is not None
    assert high is not None
    if low > high:
        errors.append(
            _field(
                [*where, "max"],
                f"must be at least min ({low:g}), got {high:g}",
                FieldErrorCode.OUT_OF_RANGE,
            )
        )
    log = raw.get("logScale")
    log = parameter.log_scale if log is None else log
    if log and low <= 0:
        errors.append(
            _field(
                [*where, "min"],
                f"a log-scale range must start above 0, got {low:g}",
                FieldErrorCode.OUT_OF_RANGE,
            )
        )
    if errors:
        return None, errors
    return SpaceParameter(name, low=float(low), high=float(high), log=bool(log), steps=steps), []


def _choice_value(parameter: Any, raw: str | None) -> ParameterValue:
    """A choice as sent (a string, or null) in the parameter's own type."""
    if raw is None:
        return None
    if parameter.kind is ParameterKind.BOOLEAN:
        lowered = raw.lower()
        return True if lowered == "true" else False if lowered == "false" else raw
    if parameter.kind in (ParameterKind.INT, ParameterKind.FLOAT):
        try:
            number = float(raw)
        except ValueError:
            return raw
        return (
            int(number) if parameter.kind is ParameterKind.INT and number.is_integer() else number
        )
    return raw


@dataclass(frozen=True)
class TrialRecord:
    """A trial run as the study sees it. `state`: COMPLETE, PRUNED, FAIL or RUNNING."""

    number: int
    algorithm: Algorithm
    parameters: Mapping[str, Any]
    state: str
    value: float | None = None
    intermediate: Mapping[int, float] = field(default_factory=dict)


def make_sampler(method: Method, space: SearchSpace, seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    if method is Method.GRID:
        return _grid_sampler(space.grid(), seed)
    if method is Method.RANDOM:
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, min(10, 4)))


def _grid_sampler(grid: dict[str, list[Any]], seed: int) -> optuna.samplers.GridSampler:
    """GridSampler without its end-of-grid Study.stop(): that call works only inside
    study.optimize() and raised from the driver's study.tell() on a grid's last trials (the
    tick failed, logged a traceback, and every sweep waited for the next tick). The driver
    ends a sweep by its maxTrials, which validation keeps within the grid."""
    import optuna

    class DriverGridSampler(optuna.samplers.GridSampler):
        def after_trial(
            self,
            study: optuna.Study,
            trial: optuna.trial.FrozenTrial,
            state: optuna.trial.TrialState,
            values: Sequence[float] | None,
        ) -> None:
            return None

    return DriverGridSampler(grid, seed=seed)


def make_pruner(pruning: Pruning, space: SearchSpace) -> optuna.pruners.BasePruner:
    """MEDIAN: MedianPruner; HYPERBAND: HyperbandPruner over the growth range of the searched
    algorithms (trees or boosting iterations): from the smallest count a trial may grow to
    the largest one searched."""
    import optuna

    if pruning is Pruning.MEDIAN:
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if pruning is Pruning.HYPERBAND:
        low, high = _growth_range(space)
        return optuna.pruners.HyperbandPruner(min_resource=low, max_resource=high)
    return optuna.pruners.NopPruner()


def _growth_range(space: SearchSpace) -> tuple[int, int]:
    highs: list[int] = []
    for entry in space.entries:
        spec = ALGORITHMS[entry.algorithm]
        if spec.grows_by is None:
            continue
        searched = next((p for p in entry.parameters if p.name == spec.grows_by), None)
        if searched is None:
            highs.append(int(spec.by_name[spec.grows_by].default or 1))
        elif searched.choices is not None:
            highs.append(int(max(c for c in searched.choices if isinstance(c, int | float))))
        else:
            highs.append(int(searched.high or 1))
    high = max(highs, default=1)
    return max(1, min(10, high // 10)), max(high, 2)


def build_study(
    *,
    method: Method,
    pruning: Pruning,
    space: SearchSpace,
    seed: int,
    maximize: bool,
    trials: Sequence[TrialRecord],
) -> optuna.Study:
    """A fresh in-memory study holding `trials`, in trial-number order (finished ones with
    their values and intermediate values, running ones as RUNNING), so that the next
    trial Optuna asks for has the sweep's next trial number.

    GRID: GridSampler gives trial n the n-th point of its grid shuffled by the seed, so
    with the sweep's own seed every rebuilt study hands out the points in the same order
    and a trial number always means the same point: none twice, none skipped. The other
    samplers are seeded with the sweep's seed plus the trials already made, so a rebuilt
    study does not replay the draws of the one before it.
    """
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if maximize else "minimize",
        sampler=make_sampler(method, space, seed if method is Method.GRID else seed + len(trials)),
        pruner=make_pruner(pruning, space),
    )
    distributions = space.distributions()
    for record in sorted(trials, key=lambda t: t.number):
        params = space.params_of(record.algorithm, record.parameters) or {}
        state = TrialState[record.state]
        value = record.value if state is TrialState.COMPLETE else None
        if state is TrialState.COMPLETE and (value is None or not math.isfinite(value)):
            state, value = TrialState.FAIL, None
        study.add_trial(
            create_trial(
                state=state,
                value=value,
                params=params,
                distributions={name: distributions[name] for name in params},
                intermediate_values=dict(record.intermediate),
            )
        )
    return study
