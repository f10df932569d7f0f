"""The policy's rules, one module per area. A new area is a new module added to RULE_MODULES.

Each module has `on_event(ctx) -> list[Violation]`; modules with scheduled checks also have
`on_schedule(ctx) -> list[Violation]` and `next_due(state, policy) -> datetime | None`.
"""
from pipeline.rules import discipline, files, members, publishing

RULE_MODULES = (members, publishing, files, discipline)
