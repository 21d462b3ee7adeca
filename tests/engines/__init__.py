"""Real engines for the tests: Kafka and PostgreSQL, from an address given, testcontainers, or a
local server the project starts itself."""
