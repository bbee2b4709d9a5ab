# The two commands: `make run` (the whole product on the embedded default) and `make test` (the whole suite).
.PHONY: run test lint bench-lists

run:
	./scripts/bootstrap.sh
	.venv/bin/python scripts/run_local.py

test:
	./scripts/bootstrap.sh test
	./scripts/test.sh

lint:
	.venv/bin/ruff check .

bench-lists:
	.venv/bin/python manage.py bench_lists
