"""The Faust worker: the shell that feeds the core from Kafka and sends what it returns."""
