"""Rule evaluation: compiled CEL conditions, evaluated in order, producing a :class:`Decision`.

CEL (Common Expression Language) is a small, side-effect-free expression language with no
loops, no I/O and no access to Python objects, so an admin's condition cannot do anything but
compute a boolean. Conditions are compiled once at start-up; a syntax error names the rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import celpy
from celpy import celtypes

from hub.rules.model import (
    Approve,
    Decline,
    Hold,
    Notify,
    NotifyTeam,
    RuleSettings,
    Suppress,
    Tag,
)

if TYPE_CHECKING:
    from hub.events import ReturnState


class RuleError(Exception):
    """A rule is invalid; ``problems`` names each rule and its error."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(slots=True)
class RuleMatch:
    """One rule's verdict on one event."""

    rule: str
    matched: bool
    error: str | None = None
    actions: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Decision:
    """What the rules decided for one event."""

    matches: list[RuleMatch] = field(default_factory=list)
    #: "approve", "decline" or "hold", and the action's settings (first one wins).
    transition: Approve | Decline | Hold | None = None
    #: The rule whose action set ``transition`` (the timeline and upstream actions credit it).
    transition_rule: str | None = None
    channels: list[str] | None = None
    template: str | None = None
    #: None: nothing suppressed; an empty set: every channel suppressed.
    suppressed: set[str] | None = None
    team: list[NotifyTeam] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @property
    def matched(self) -> list[RuleMatch]:
        """The rules that matched."""
        return [m for m in self.matches if m.matched]

    def suppresses(self, channel: str) -> bool:
        """Whether ``channel`` is suppressed for this event's stage."""
        return self.suppressed is not None and (not self.suppressed or channel in self.suppressed)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able summary (dry runs, timelines)."""
        return {
            "rules": [{"rule": m.rule, "matched": m.matched, "actions": m.actions,
                       **({"error": m.error} if m.error else {})} for m in self.matches],
            "transition": self.transition.do if self.transition else None,
            "transition_rule": self.transition_rule,
            "channels": self.channels, "template": self.template,
            "suppressed": sorted(self.suppressed) if self.suppressed else
            ([] if self.suppressed is None else ["*"]),
            "team": [t.model_dump(exclude_none=True) for t in self.team],
            "tags": self.tags,
        }


@dataclass(slots=True)
class _Compiled:
    settings: RuleSettings
    program: Any


def _to_cel(value: Any) -> Any:
    return celpy.json_to_cel(value)


class RuleEngine:
    """Evaluates the configured rules in order."""

    def __init__(self, rules: list[RuleSettings]) -> None:
        environment = celpy.Environment()
        problems, compiled, seen = [], [], set()
        for index, rule in enumerate(rules):
            if rule.name in seen:
                problems.append(f"rules[{index}] ({rule.name}): the name is used twice")
            seen.add(rule.name)
            try:
                program = environment.program(environment.compile(rule.when))
            except celpy.CELParseError as exc:
                detail = " ".join(str(exc).split())
                problems.append(f"rules[{index}] ({rule.name}).when: {detail}")
                continue
            if rule.enabled:
                compiled.append(_Compiled(rule, program))
        if problems:
            raise RuleError(problems)
        self._rules = compiled

    @property
    def names(self) -> list[str]:
        """The enabled rules, in evaluation order."""
        return [r.settings.name for r in self._rules]

    @property
    def empty(self) -> bool:
        """No rules are configured: every event goes through undecided."""
        return not self._rules

    def evaluate(self, variables: dict[str, Any]) -> Decision:
        """Run every rule against ``variables`` (see :mod:`hub.rules.context`)."""
        decision = Decision()
        if not self._rules:
            return decision
        try:
            activation = {name: _to_cel(value) for name, value in variables.items()}
        except Exception as exc:  # data CEL cannot hold (e.g. an integer over 64 bits)
            reason = f"the event's data cannot be given to rules ({type(exc).__name__})"
            decision.matches += [RuleMatch(c.settings.name, False, reason) for c in self._rules]
            return decision
        for compiled in self._rules:
            rule = compiled.settings
            if not self._in_scope(rule, variables):
                continue
            try:
                result = compiled.program.evaluate(activation)
            except Exception as exc:  # evaluation errors never stop the pipeline
                decision.matches.append(RuleMatch(rule.name, False, _describe(exc)))
                continue
            if isinstance(result, celpy.CELEvalError):
                decision.matches.append(RuleMatch(rule.name, False, _describe(result)))
                continue
            if not isinstance(result, celtypes.BoolType):
                decision.matches.append(RuleMatch(
                    rule.name, False, f"the condition gave {type(result).__name__}, not a bool"))
                continue
            if not bool(result):
                decision.matches.append(RuleMatch(rule.name, False))
                continue
            match = RuleMatch(rule.name, True, actions=[a.do for a in rule.actions])
            decision.matches.append(match)
            for action in rule.actions:
                self._apply(decision, action, rule.name)
            activation["tags"] = _to_cel(decision.tags)
            if rule.stop:
                break
        return decision

    @staticmethod
    def _in_scope(rule: RuleSettings, variables: dict[str, Any]) -> bool:
        scope = rule.scope
        if scope.regions and (variables.get("region") or "") not in {
                r.upper() for r in scope.regions}:
            return False
        if scope.categories and not set(variables.get("categories") or []) & set(
                scope.categories):
            return False
        return True

    @staticmethod
    def _apply(decision: Decision, action: Any, rule: str) -> None:
        if isinstance(action, (Approve, Decline, Hold)):
            if decision.transition is None:
                decision.transition, decision.transition_rule = action, rule
        elif isinstance(action, Notify):
            decision.channels = action.channels if action.channels is not None \
                else decision.channels
            decision.template = action.template or decision.template
        elif isinstance(action, Suppress):
            channels = set(action.channels or ())
            if not channels:
                decision.suppressed = set()
            elif decision.suppressed is None:
                decision.suppressed = channels
            elif decision.suppressed:
                decision.suppressed |= channels
        elif isinstance(action, NotifyTeam):
            decision.team.append(action)
        elif isinstance(action, Tag) and action.tag not in decision.tags:
            decision.tags.append(action.tag)


def _describe(error: Any) -> str:
    text = " ".join(str(getattr(error, "args", [error])[0] if getattr(error, "args", None)
                        else error).split())
    return f"evaluation error: {text}"[:300]


def target_state(action: Approve | Decline | Hold) -> ReturnState:
    """The state a transition action moves a return to."""
    from hub.events import ReturnState

    return {"approve": ReturnState.APPROVED, "decline": ReturnState.DECLINED,
            "hold": ReturnState.PENDING_REVIEW}[action.do]
