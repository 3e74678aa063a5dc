"""The rules stage: conditions (CEL expressions) over each event, and the actions they take."""

from hub.rules.engine import Decision, RuleEngine, RuleError
from hub.rules.model import RuleSettings

__all__ = ["Decision", "RuleEngine", "RuleError", "RuleSettings"]
