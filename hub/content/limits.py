"""Resource limits for one template render: time, output and the size of every value.

Jinja2's sandbox stops attribute escapes, not resource abuse: ``'a' * 10**9`` or two nested
``range(100000)`` loops run happily. A :class:`Budget` is bound to the running render (a context
variable); the sandbox's hooks (:mod:`hub.content.sandbox`) call :meth:`Budget.tick` on every
call, attribute access, operator and loop step, and check sizes *before* an operation that
could allocate a lot of memory in one C call (repeating a string, joining a list, formatting).

Errors name the limit, never the data.
"""

from __future__ import annotations

import contextlib
import gc
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from string import Formatter
from typing import Any

from jinja2.exceptions import SecurityError


class RenderLimitExceeded(SecurityError):
    """A template went over one of its limits (time, output or value size)."""


class RenderTimeout(RenderLimitExceeded):
    """A template computed longer than :attr:`RenderLimits.max_seconds`."""


class RangeTooLarge(RenderLimitExceeded, OverflowError):
    """``range()`` asked for more than :attr:`RenderLimits.max_range` items."""


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """Limits of one message render (all of its parts together for time)."""

    #: CPU time of the rendering thread for one message (subject, HTML and text together),
    #: not counting the time spent loading and compiling template files (see :func:`clock`).
    max_seconds: float = 1.0
    #: Characters one part (subject, HTML, text, SMS) may produce.
    max_output_chars: int = 262_144
    #: Characters produced inside buffers (macros, ``{% set %}`` blocks, filter blocks).
    max_buffered_chars: int = 1_048_576
    #: Size of any one value: characters of a string, or items (recursively) of a container.
    max_value_size: int = 100_000
    #: Items ``range()`` may produce.
    max_range: int = 10_000
    #: Bits of an integer that ``*`` or ``**`` may produce.
    max_int_bits: int = 256
    #: Largest width or precision in a format specification (``%-50s``, ``{:>10}``).
    max_format_width: int = 1_000


#: The limits used when a renderer is given none.
DEFAULT_LIMITS = RenderLimits()


def clock() -> float:
    """The render budget's clock: CPU time of the calling thread.

    What the time limit stops (nested loops, exponential macros) shows as CPU time. Wall-clock
    time also counts the time the process was not running: on a busy machine a worker gets a
    fraction of a core, and a render that needs 0.15 s of CPU (a garbage collection included)
    took over a second, so a good message became a dead letter (the chaos run)."""
    return time.thread_time()


class Budget:
    """What one render has used so far; see the module docstring."""

    __slots__ = ("buffered", "deadline", "limits", "steps", "wall_deadline")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.deadline = clock() + limits.max_seconds
        self.wall_deadline = time.monotonic() + limits.max_seconds
        self.buffered = 0
        self.steps = 0

    def tick(self) -> None:
        """Raise :class:`RenderTimeout` once the deadline has passed."""
        # A thread's CPU time never runs ahead of the wall clock, so while the wall clock is
        # within the budget the CPU time is too; and the wall clock costs ~45 ns to read
        # against ~600 ns for the thread's CPU time (a system call), on every sandbox call.
        if time.monotonic() > self.wall_deadline and clock() > self.deadline:
            raise RenderTimeout(f"render time limit ({self.limits.max_seconds:g} s) exceeded")

    def extend(self, seconds: float) -> None:
        """Move the deadline (time spent loading templates is not the template's doing)."""
        self.deadline += seconds
        self.wall_deadline += seconds

    def step(self) -> None:
        """One loop iteration: checks the clock every 64 steps (cheap enough for any loop)."""
        self.steps += 1
        if not self.steps & 63:
            self.tick()

    def add_buffered(self, chars: int) -> None:
        """Count output written into a buffer (a macro's or a ``{% set %}`` block's body)."""
        self.buffered += chars
        if self.buffered > self.limits.max_buffered_chars:
            raise RenderLimitExceeded(
                f"buffered output limit ({self.limits.max_buffered_chars} characters) exceeded")


_CURRENT: ContextVar[Budget | None] = ContextVar("returnhub_render_budget", default=None)


#: A printf conversion: its width and precision groups.
_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def current() -> Budget | None:
    """The budget of the render running in this context, if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def budget(limits: RenderLimits) -> Iterator[Budget]:
    """Bind a fresh :class:`Budget` to the code inside the ``with`` block."""
    spent = Budget(limits)
    token = _CURRENT.set(spent)
    try:
        yield spent
    finally:
        _CURRENT.reset(token)


#: When the garbage collection running in this thread started (thread CPU time), if any.
_collecting = threading.local()


def _exclude_collection(phase: str, _info: dict[str, Any]) -> None:
    """A garbage collection that a render happens to trigger is the process's doing, not the
    template's: a full collection of a large process takes over a second of CPU (1.2 s seen
    in a test worker holding 1.9 million objects), and the render then failed as a timeout.
    Its time moves the deadline, as template loading does. Called by :mod:`gc` in the thread
    that collects, so the render's budget is the one bound in that thread's context."""
    spent = _CURRENT.get()
    if spent is None:
        return
    if phase == "start":
        _collecting.started = clock()
    else:
        started = getattr(_collecting, "started", None)
        _collecting.started = None
        if started is not None:
            spent.extend(clock() - started)


gc.callbacks.append(_exclude_collection)


def tick() -> None:
    """Check the running render's deadline (no-op outside a render)."""
    spent = _CURRENT.get()
    if spent is not None:
        spent.tick()


def too_big(what: str, limit: int | str) -> RenderLimitExceeded:
    """The error for a value over its size limit."""
    return RenderLimitExceeded(f"{what} larger than the limit ({limit})")


def size_of(value: Any, limit: int) -> int:
    """The size of ``value`` as :attr:`RenderLimits.max_value_size` counts it: characters of a
    string; for a container 1 + its length + the sizes of its items (keys too); 1 otherwise.

    A list holding one long string many times is as big as the text it prints as. Counting
    stops (returning ``limit + 1``) as soon as the limit is passed; every step adds at least 1,
    so it costs at most ``limit`` steps, cycles included."""
    if type(value) is str:  # most values checked: no walk needed
        return len(value) if len(value) <= limit else limit + 1
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item)
        elif isinstance(item, Mapping):
            total += 1 + 2 * len(item)
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 1 + len(item)
            if total <= limit:
                stack.extend(item)
        else:
            total += 1
            attrs = getattr(item, "_Namespace__attrs", None)  # jinja2.utils.Namespace
            if isinstance(attrs, dict):
                stack.append(attrs)
        if total > limit:
            return limit + 1
    return total


def check_size(value: Any, limits: RenderLimits, what: str = "value") -> Any:
    """``value``, or :class:`RenderLimitExceeded` when it is bigger than allowed."""
    if size_of(value, limits.max_value_size) > limits.max_value_size:
        raise too_big(what, limits.max_value_size)
    return value


def check_int(value: Any, limits: RenderLimits) -> None:
    """Refuse an integer argument bigger than the value-size limit (a width, a count)."""
    if isinstance(value, int) and not isinstance(value, bool) \
            and abs(value) > limits.max_value_size:
        raise too_big("number argument", limits.max_value_size)


def check_printf_format(template: str, limits: RenderLimits) -> None:
    """Refuse a ``%`` format whose widths and precisions add up past the width limit (a
    ``'%999999999d' % 1`` allocates a gigabyte in one call), or that takes them from ``*``."""
    total = 0
    for width, precision in _PRINTF_SPEC.findall(template):
        if "*" in (width, precision):
            raise RenderLimitExceeded("format widths given by '*' are not allowed")
        total += int(width or 0) + int(precision or 0)
    if total > limits.max_format_width:
        raise too_big("format width", limits.max_format_width)


def check_brace_format(template: str, limits: RenderLimits) -> None:
    """Refuse a ``str.format`` template whose field widths add up past the width limit, or
    whose width comes from a nested field (``{:{w}}``)."""
    total = 0
    try:
        fields = list(Formatter().parse(template))
    except ValueError:
        return  # str.format raises the same error itself
    for _literal, _name, spec, _conversion in fields:
        if not spec:
            continue
        if "{" in spec:
            raise RenderLimitExceeded("nested format fields are not allowed")
        total += sum(int(n) for n in re.findall(r"\d+", spec))
    if total > limits.max_format_width:
        raise too_big("format width", limits.max_format_width)
