"""What the tests and the benchmarks share: tiny random-weight pipelines, the test Bot API
server, and helpers that start Redis, the bot and the worker as real processes."""
