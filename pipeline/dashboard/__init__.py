"""The live dashboard: a Kafka consumer of the output topics behind a small aiohttp web page.

`state.DashboardState` builds everything the page shows from output events (pure, testable);
`server` is the thin shell that consumes the topics and serves the page and its JSON/SSE feed.
"""
from pipeline.dashboard.commands import add_arguments

__all__ = ["add_arguments"]
