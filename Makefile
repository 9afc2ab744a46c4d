# Two commands set everything up on a fresh machine with Python 3.11:
#   make demo   -- create .venv, install, render the shipped example fleet into build/
#   make test   -- create .venv if needed: the hooks (ruff, mypy), pytest, the docs site, the wheel
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXAMPLE := profiles/example/fleet.yaml

.PHONY: demo test quick lint typecheck hooks unit docs bench clean catalogue agent windows-tools constraints wheel-check

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	chmod 600 profiles/example/secrets/*.txt  # git keeps no modes; secret files are private
	$(BIN)/provisioner validate $(EXAMPLE)
	$(BIN)/provisioner render $(EXAMPLE) --out build

test: $(STAMP) windows-tools hooks unit docs wheel-check

# The inner loop: everything but the slow rounds (pyproject.toml names them), the Windows-side (Wine) tests
# and those that ask a real registrar (Kamailio),
# on every core (pytest-xdist), and no system packages installed.
quick: $(STAMP) lint typecheck
	$(BIN)/pytest -m "not slow and not windows and not registrar" -n auto

# Pin what CI installs to what the suite passes with now.
constraints: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable > constraints.txt.new
	{ sed -n '1,3p' constraints.txt; cat constraints.txt.new; } > constraints.txt.all  # the header kept
	mv constraints.txt.all constraints.txt && rm constraints.txt.new

# What ships is what is tested: build the wheel, install it into a fresh venv, run the main jobs from it.
wheel-check: $(STAMP)
	rm -rf build/wheel-check && mkdir -p build/wheel-check
	$(BIN)/python -m pip wheel --quiet --no-deps -c constraints.txt -w build/wheel-check .
	$(PYTHON) -m venv build/wheel-check/venv
	build/wheel-check/venv/bin/python -m pip install --quiet -c constraints.txt build/wheel-check/*.whl
	$(BIN)/python scripts/check_wheel.py build/wheel-check

# Wine and MinGW-w64 run the Windows-side checks (the agent against a MicroSIP double, .cmd
# launchers); the i686 compiler builds a 32-bit MicroSIP double (its PE header is what the agent
# reads), wixl builds the Windows Installer packages MicroSIP 3.22.3 consults and the agent's own
# (msitools reads them back), osslsigncode and openssl sign and verify them. Installed from
# Debian's packages when missing and running as root; otherwise those tests skip and say why --
# except with CI=true, where anything missing fails the run. Kamailio (and its TLS module) is the real
# registrar that check-registration is tested against, on loopback; git makes the revisions diff reads.
WINDOWS_TOOLS := wine x86_64-w64-mingw32-gcc x86_64-w64-mingw32-windres i686-w64-mingw32-gcc wixl msiinfo msiextract \
	osslsigncode openssl desktop-file-validate kamailio
windows-tools:
	@missing=; for tool in $(WINDOWS_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian packages for the Windows-side tests (missing:$$missing)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			wine wine64 gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 wixl msitools osslsigncode openssl \
			desktop-file-utils make kamailio kamailio-tls-modules git >/dev/null; \
	elif [ "$$CI" = true ]; then echo "CI=true: missing$$missing, which cannot be installed here" >&2; exit 1; \
	else echo "note: missing$$missing: the Windows-side tests will be skipped"; fi

# The Windows agent: a reproducible MinGW-w64 build into provisioner/data/agent/ (commit the exe).
agent:
	$(MAKE) -C agent

lint: $(STAMP)
	$(BIN)/ruff check provisioner tests benchmarks scripts docs/hooks

# The documentation site, in strict mode: a broken link or a page left out of the navigation fails.
# Its reference pages are generated from the tool while it is built (docs/hooks/reference.py).
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet

# ruff, ruff format and mypy as .pre-commit-config.yaml runs them (its cache stays in build/).
hooks: $(STAMP)
	PRE_COMMIT_HOME=build/pre-commit $(BIN)/pre-commit run --all-files --show-diff-on-failure

typecheck: $(STAMP)
	$(BIN)/mypy

# The coverage floor is what the suite reached when it was set (92 % without the slow tests).
unit: $(STAMP)
	$(BIN)/pytest --cov=provisioner --cov-report=term:skip-covered --cov-fail-under=91

bench: $(STAMP)
	$(BIN)/python benchmarks/render_scale.py
	$(BIN)/python benchmarks/apply_scale.py
	$(BIN)/python benchmarks/publish_scale.py

catalogue:
	$(PYTHON) scripts/build_catalogue.py

clean:
	rm -rf build .mypy_cache .ruff_cache .pytest_cache
