"""The pure core: events, state, rules, follow-ups, the ladder, the engine. No I/O, no clock, no Kafka;
mypyc compiles this folder (pipeline/native.py)."""
