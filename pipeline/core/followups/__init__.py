"""Follow-up trackers beside C1 reply tracking: C5 problems, P7 announcements, P10/P11 urgent
posts, D4 rectifications, and the D3 inspection report. `pipeline.core.responsiveness` is the rule
module that drives them; each tracker keeps its own section of the group state."""
