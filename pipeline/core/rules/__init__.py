"""The policy's rules, one module per area. A new area is a new module added to
`pipeline.core.engine.RULE_MODULES` (kept there, so importing one rule's helpers never imports them all).

Each module has `on_event(ctx) -> list[Violation]`; modules with scheduled checks also have
`on_schedule(ctx) -> list[Violation]` and `next_due(state, policy) -> datetime | None`.
"""
