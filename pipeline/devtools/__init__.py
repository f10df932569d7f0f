"""What is not the product's runtime: the demo, the simulator, the load generator, the sample, benchmarks."""
