# The two set-up commands of the README. Both create .venv and install everything.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := espeak-ng flite sox fortunes fortunes-min wamerican-large libportaudio2 chromium \
                chromium-driver asterisk-core-sounds-en asterisk-core-sounds-en-g722 \
                asterisk-core-sounds-en-wav flight-of-the-amazon-queen beneath-a-steel-sky \
                pocketsphinx-en-us
STAMP := $(VENV)/.installed
SPHINX_LM := /usr/share/pocketsphinx/model/en-us/en-us.lm.bin
WORD_LM := transducer/pretrained/words.npz

.PHONY: demo test test-unit lint system-deps clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[train,synth,demo,dev]'
	touch $(STAMP)

# System packages for speech synthesis and real speech (the Asterisk prompts, FOTAQ's voices);
# installed only when running as root and missing.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "apt-get install$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "note: missing system packages:$$missing (tests that need them will skip)"; \
	fi

# The shipped model's word LM, from Debian's pocketsphinx-en-us (a few seconds); without it
# the model decodes with its character LM alone.
$(WORD_LM): transducer/wordlm.py | system-deps $(STAMP)
	@if [ -f $(SPHINX_LM) ]; then $(VENV)/bin/transducer lm --from-sphinx $(SPHINX_LM) --out $@; \
	else echo "note: no $(SPHINX_LM): the shipped model decodes without its word LM"; fi

test: system-deps $(STAMP) $(WORD_LM)
	$(PY) -m pytest -q

test-unit: $(STAMP)  # the fast tier: no training, TTS, browser or data-package tests
	$(PY) -m pytest -q -m 'not slow and not integration'

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

demo: system-deps $(STAMP) $(WORD_LM)
	$(PY) -m demo.stream transducer/pretrained/sample.wav

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache $(WORD_LM)
