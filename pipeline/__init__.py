"""Real-time compliance and moderation pipeline for enterprise work chat groups."""
from pipeline.native import prefer_source_if_needed

prefer_source_if_needed()
