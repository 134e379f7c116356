# Two commands do all the setup on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install screenshots bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip >/dev/null
	$(BIN)/pip install -e '.[gui,dev,track]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/kagglebench demo demo-workspace

# The corruption fidelity tests run the original CIFAR-C generator, which calls ImageMagick
# through Wand: install ImageMagick's library when Wand cannot load it (Debian names).
test: $(STAMP)
	$(BIN)/python -c "import wand.image" 2>/dev/null || (apt-get update && apt-get install -y libmagickwand-dev)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

# A real window under Xvfb; Qt's xcb plugin needs the libxcb packages (Debian names).
SCREENSHOT_DEBS := xvfb imagemagick x11-apps libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 \
	libxcb-render-util0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-shape0 libxcb-randr0

screenshots: $(STAMP)
	command -v Xvfb >/dev/null || (apt-get update && apt-get install -y $(SCREENSHOT_DEBS))
	$(BIN)/python tools/screenshots.py

bench: $(STAMP)
	$(BIN)/kagglebench bench

clean:
	rm -rf $(VENV) demo-workspace
