"""Use cases: each owns its reading, writing and transactions; rules stay pure."""
