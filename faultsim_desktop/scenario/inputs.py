"""What each step of a scenario sends, as (source name, bytes).

The runner sends exactly these and the expected truth reads exactly these: neither reads a
step's file or generates its events any other way, so the two can never disagree about the
input.
"""
from __future__ import annotations

from functools import lru_cache

from .generate import generate_events
from .model import Scenario, ScenarioError, Step, StepKind


def step_inputs(scenario: Scenario, step: Step) -> list[tuple[str, bytes]]:
    """The inputs a SEND, HTTP or GENERATE step sends, in order ([] for the other kinds).
    A file that cannot be read any more raises a ScenarioError naming the step."""
    if step.kind in (StepKind.SEND, StepKind.HTTP):
        if step.path is None:
            return [(text_source(step), step.text.encode("utf-8"))]
        try:
            return [(step.path.name, step.path.read_bytes())]
        except OSError as exc:
            raise ScenarioError(f"cannot read {step.path}: {exc.strerror or exc}",
                                step=step.index, line=step.line) from None
    if step.kind is StepKind.GENERATE:
        return [(generated_source(step), _generated(scenario.seed, step.index, step.count,
                                                    step.clients, step.reuse_keys))]
    return []


def scenario_inputs(scenario: Scenario) -> list[tuple[Step, list[tuple[str, bytes]]]]:
    """Every sending step with its inputs, in the order the timeline sends them."""
    return [(step, step_inputs(scenario, step)) for step in scenario.steps
            if step.kind in (StepKind.SEND, StepKind.HTTP, StepKind.GENERATE)]


def text_source(step: Step) -> str:
    return f"scenario:step {step.index}"


def generated_source(step: Step) -> str:
    return f"generated:step {step.index}"


@lru_cache(maxsize=8)
def _generated(seed: int | None, index: int, count: int, clients: int, reuse_keys: int
               ) -> bytes:
    # the runner and the truth both ask for it; 20,000 events take a moment to make
    return generate_events(seed, index, count, clients, reuse_keys)
