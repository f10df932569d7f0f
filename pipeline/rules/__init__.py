"""The policy's rules, one module per area. A new area is a new module added to RULE_MODULES.

Each module has `on_event(ctx) -> list[Violation]`; modules with scheduled checks also have
`on_schedule(ctx) -> list[Violation]` and `next_due(state, policy) -> datetime | None`.
"""
from pipeline.rules import discipline, files, members, publishing

from pipeline import responsiveness  # noqa: E402 - C1/C5/P7/P10/P11/D3/D4 follow-ups; last: it sees the others' state

RULE_MODULES = (members, publishing, files, discipline, responsiveness)
