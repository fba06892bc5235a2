"""One module per measured system: the physical limits (pg_recvlogical, copy_table,
raw_producer), pgcdc, and its peers (debezium, conduit). Each takes the Bench of the run
(runner.py) for the environment, the broker, the sizes and the run's directories."""
