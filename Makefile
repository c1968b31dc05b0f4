# The two quick-start commands (README): `make demo` and `make test`. Each sets everything up.
.PHONY: demo test bootstrap bench
bootstrap:
	@bash tools/bootstrap.sh

demo: bootstrap
	@.venv/bin/python -m tools.demo_fix
	@.venv/bin/python -m tools.demo

test: bootstrap
	@.venv/bin/python -m pytest $(PYTEST_ARGS)

bench: bootstrap
	@.venv/bin/python -m bench $(BENCH_ARGS)
