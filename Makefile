# The Lab site. `make help` lists the targets.
# Every target that needs Python makes (or refreshes) .venv/ from requirements.txt
# first, so a machine with Python 3.11+ and make needs nothing else.

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-requirements
PELICAN := $(BIN)/pelican
# One-off builds: the pelican command without its spinner thread, so that the
# plugins may fork worker processes (plugins/lab_common/build.py says why).
BUILD := PYTHONPATH=plugins $(BIN)/python -m lab_common.build

INPUTDIR := content
OUTPUTDIR := output
STAGEDIR := .build
CONFFILE := pelicanconf.py
PUBLISHCONF := publishconf.py
PREVIEWCONF := previewconf.py
# A reviewer's preview (relative links: it works from any folder or server).
PREVIEWDIR := preview
# make check's screenshots; CHANGED_PAGES names a file listing more pages to
# take (paths in the site, one a line: tests/previewdiff.py writes it in CI).
# The name reaches the script in its environment, never through the shell.
SCREENSHOTDIR := check-screenshots

PORT ?= 8000
BIND ?= 127.0.0.1
# Local builds name their own address in the few absolute URLs they write
# (sitemap, feeds, calendar files).
DEV_SITEURL := http://$(BIND):$(PORT)
# Plain log lines (no columns) read well in terminals and CI logs alike.
PELICANOPTS ?= --log-handler plain
PYTEST_ARGS ?=

ifeq ($(DEBUG), 1)
	PELICANOPTS += -D
endif

.DEFAULT_GOAL := help

help: ## List the targets
	@echo "The Lab site. Usage: make <target> [PORT=8000] [BIND=127.0.0.1] [SITEURL=...]"
	@echo
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.txt
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed; $(PY) is $$($(PY) --version 2>&1)."; \
		  echo "Run make with PY=/path/to/python3.11 (or newer)."; exit 1; }
	@echo "Setting up $(VENV)/ from requirements.txt (first run only)..."
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

install: $(STAMP) ## Create or refresh the virtual environment in .venv/

# Builds go to a staging folder and replace output/ only when they succeed, so
# a build that fails (a malformed post, say) leaves the last good site in place.
# Either fails on any error. Warnings (a character removed from a feed, say)
# are printed; make check's link gate catches broken internal links. The
# third argument names another folder than output/ (make preview).
define build
	@rm -rf $(STAGEDIR) $(STAGEDIR)-old
	@$(1) $(BUILD) $(INPUTDIR) -o $(STAGEDIR) -s $(2) $(PELICANOPTS) || \
		{ rm -rf $(STAGEDIR); echo "Build failed: $(or $(3),$(OUTPUTDIR))/ is unchanged."; exit 1; }
	@$(BIN)/python -m pagefind --site $(STAGEDIR) --silent || \
		{ rm -rf $(STAGEDIR); echo "Search index failed: $(or $(3),$(OUTPUTDIR))/ is unchanged."; exit 1; }
	@if [ -d $(or $(3),$(OUTPUTDIR)) ]; then mv $(or $(3),$(OUTPUTDIR)) $(STAGEDIR)-old; fi
	@mv $(STAGEDIR) $(or $(3),$(OUTPUTDIR)) && rm -rf $(STAGEDIR)-old
endef

html: $(STAMP) ## Build the site for local preview into output/
	$(call build,SITEURL="$(DEV_SITEURL)" LAB_COMMENTS_ENDPOINT="$(DEV_COMMENTS_ENDPOINT)",$(CONFFILE) --fatal errors)

clean: ## Remove output/, preview/, screenshots, build leftovers and build caches (keeps .venv/ and card images)
	rm -rf $(OUTPUTDIR) $(PREVIEWDIR) $(SCREENSHOTDIR) $(STAGEDIR) $(STAGEDIR)-old cache .cache/pelican .cache/jinja

# Rebuilds in place keep Pelican's content cache (posts not edited are not
# read again) and let lab_writer leave alone every page whose inputs did not
# change; both keep their records in .cache/pelican (`make clean` drops them).
INPLACEOPTS := -e CACHE_CONTENT=true LOAD_CONTENT_CACHE=true GZIP_CACHE=false \
	LAB_WRITER_SKIP_UNCHANGED=true

# Pelican's own -r starts a new watcher after each build, so a file written
# during a build (a comment approved while the last one rebuilds) would wait
# for another change; lab_writer.autoreload keeps one watcher for the session.
AUTORELOAD := PYTHONPATH=plugins $(BIN)/python -m lab_writer.autoreload

regenerate: $(STAMP) ## Rebuild output/ whenever a file changes
	SITEURL="$(DEV_SITEURL)" LAB_COMMENTS_ENDPOINT="$(DEV_COMMENTS_ENDPOINT)" $(AUTORELOAD) $(INPUTDIR) -o $(OUTPUTDIR) -s $(CONFFILE) $(PELICANOPTS) $(INPLACEOPTS)

serve: html ## Build, then serve output/ (http://127.0.0.1:8000; PORT=, BIND=)
	@echo "Serving the site at $(DEV_SITEURL)/ (Ctrl-C stops)"
	$(PELICAN) -l $(INPUTDIR) -o $(OUTPUTDIR) -s $(CONFFILE) -p $(PORT) -b $(BIND)

# The comments endpoint (plugins/lab_comments). A local build's form posts to
# http://127.0.0.1:$(COMMENTS_PORT)/comments, 8001 unless COMMENTS_PORT= says
# otherwise (passed to pelicanconf.py as LAB_COMMENTS_ENDPOINT).
COMMENTS_PORT ?= 8001
# Where a local build's comment form posts: the endpoint devserver starts.
DEV_COMMENTS_ENDPOINT = http://$(BIND):$(COMMENTS_PORT)/comments
LAB_COMMENTS_QUEUE ?= $(CURDIR)/comments-queue
LAB_COMMENTS_MANIFEST ?= $(CURDIR)/$(OUTPUTDIR)/comments-manifest.json
COMMENTS := LAB_COMMENTS_QUEUE="$(LAB_COMMENTS_QUEUE)" \
	LAB_COMMENTS_MANIFEST="$(LAB_COMMENTS_MANIFEST)" \
	PYTHONPATH=plugins $(BIN)/python -m lab_comments.cli

# A full build first (with the search index, which the watcher's rebuilds keep),
# then the watcher (see regenerate); approving a comment (a .yaml file) rebuilds too.
devserver: html ## Serve output/, rebuild it on every change, run the comments endpoint (PORT=, BIND=)
	@$(COMMENTS) serve --host $(BIND) --port $(COMMENTS_PORT) & comments=$$!; \
	trap 'kill $$comments 2>/dev/null' EXIT INT TERM; \
	SITEURL="$(DEV_SITEURL)" LAB_COMMENTS_ENDPOINT="$(DEV_COMMENTS_ENDPOINT)" $(AUTORELOAD) -l $(INPUTDIR) -o $(OUTPUTDIR) -s $(CONFFILE) -p $(PORT) -b $(BIND) $(PELICANOPTS) $(INPLACEOPTS)

publish: $(STAMP) ## Build the production site into output/ (absolute URLs from SITEURL)
	$(call build,$(if $(SITEURL),SITEURL="$(SITEURL)"),$(PUBLISHCONF) --fatal errors)

# The production build with relative links (previewconf.py): CI keeps it with
# each pull request; README, "Preview, then publish", says how to open it.
preview: $(STAMP) ## Build a preview into preview/ that works from any folder or static server
	$(call build,,$(PREVIEWCONF) --fatal errors,$(PREVIEWDIR))

test: $(STAMP) ## Run the test suite (Python only; the browser gates are in make check)
	$(BIN)/python -m pytest -m "not gates" $(PYTEST_ARGS)

# What make check needs beyond Python: Java 17, Node 20 (npm), Debian's
# chromium and nginx come from the system; the rest is pinned in .ci/.
CHECK_STAMP := $(VENV)/.installed-check-tools
$(CHECK_STAMP): $(STAMP) .ci/requirements-check.txt .ci/check/package-lock.json
	@for tool in java node npm; do command -v $$tool >/dev/null || \
		{ echo "make check needs $$tool: Java 17 (apt-get install openjdk-17-jre-headless) and Node 20 with npm."; exit 1; }; done
	@test -x /usr/bin/chromium || { echo "make check needs Debian's chromium:"; \
		echo "  apt-get update && apt-get install -y --no-install-recommends chromium fonts-dejavu-core"; exit 1; }
	@test -x /usr/sbin/nginx || { echo "make check needs nginx (to check deploy/nginx/):"; \
		echo "  apt-get update && apt-get install -y --no-install-recommends nginx-light"; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r .ci/requirements-check.txt
	cd .ci/check && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

BENCH_ARGS ?=
bench: $(STAMP) ## Benchmark our build against stock Pelican (BENCH_ARGS="--sizes 100,1000 --runs 3")
	PYTHONPATH=tests:plugins $(BIN)/python -m bench $(BENCH_ARGS)

bench-profile: $(STAMP) ## Profile our build of 1,000 synthetic posts (cProfile, top entries)
	PYTHONPATH=tests:plugins $(BIN)/python -m bench --profile 1000

weights: ## Print what the heaviest page of each kind in output/ weighs (HTML, CSS, JS) against its budget
	$(BIN)/python tests/pageweight.py --site $(OUTPUTDIR)

check-tools: $(CHECK_STAMP) ## Install what make check needs from PyPI and npm

unexport CHANGED_PAGES
check screenshots: export LAB_CHANGED_PAGES = $(value CHANGED_PAGES)

check: publish $(CHECK_STAMP) ## Quality gates on the production build (needs Java 17, Node 20, chromium, nginx)
	$(BIN)/python tests/check_site.py --site $(OUTPUTDIR)
	@# Overdue reviews: a warning, or a failure when LAB_REVIEW_OVERDUE = "fail".
	@$(REVIEW_REPORT) --check >/dev/null
	$(BIN)/python -m pytest -m gates $(PYTEST_ARGS)
	$(BIN)/python tests/screenshots.py --site $(OUTPUTDIR) --out $(SCREENSHOTDIR)

screenshots: $(CHECK_STAMP) ## Screenshots of output/'s page types (and CHANGED_PAGES=file) at 320 and 1280 px, JavaScript on and off
	$(BIN)/python tests/screenshots.py --site $(OUTPUTDIR) --out $(SCREENSHOTDIR)

# -- Reviews (README: front matter reference; plugins/README.md: lab_reviews).
# The report reads the site as the production build does (its settings, its
# "today": SOURCE_DATE_EPOCH when set) and writes nothing but its report; the
# file named by JSON= reaches it in the environment, never through the shell.
REVIEW_REPORT := PYTHONPATH=plugins $(BIN)/python -m lab_reviews.report -s $(PUBLISHCONF)
unexport JSON FAIL_ON_OVERDUE
review-report: export LAB_REVIEW_JSON = $(value JSON)

review-report: $(STAMP) ## List reviews overdue or due within 30 days, by owner (FAIL_ON_OVERDUE=1: exit 1 if any is overdue; JSON=file: also as JSON)
	@$(REVIEW_REPORT) $(if $(filter 1 yes true,$(value FAIL_ON_OVERDUE)),--fail-on-overdue) \
		$${LAB_REVIEW_JSON:+--json "$$LAB_REVIEW_JSON"}

lint: $(STAMP) ## Check code style with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Reformat the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# -- Comments and moderation (README: "Comments and moderation")
# The comments port is PORT= when given on the command line, else 8001.
COMMENTS_SERVE_PORT = $(if $(filter command line environment,$(origin PORT)),$(PORT),$(COMMENTS_PORT))
LOAD_SUBMISSIONS ?= 1000
LOAD_CLIENTS ?= 50
LOAD_RUNS ?= 3

comments-serve: $(STAMP) ## Run the comments endpoint on 127.0.0.1 (PORT=, default 8001)
	$(COMMENTS) serve --host 127.0.0.1 --port $(COMMENTS_SERVE_PORT)

comments-list: $(STAMP) ## List comments waiting for moderation, with flags
	@$(COMMENTS) list

# What a moderator copies from a reader's comment (the id, the text to redact)
# never passes through the shell: make pastes $(TEXT) into a recipe before the
# shell reads it, so no quoting makes that safe. The targets hand the values to
# the command in its environment, as $(value ...) (never expanded, so that
# TEXT='$(shell ...)' stays text), and the variables themselves are not
# exported: make expands a variable it exports, and one given on the command
# line is exported by default.
unexport ID TEXT TEXT_FILE AUTHOR BODY_FILE STAFF OVERRIDE PULL ADDR
COMMENTS_BY_ID := comments-show comments-approve comments-reject comments-redact \
	comments-erase comments-reply
$(COMMENTS_BY_ID): export LAB_COMMENTS_ID = $(value ID)
comments-redact: export LAB_COMMENTS_TEXT = $(value TEXT)
comments-redact: export LAB_COMMENTS_TEXT_FILE = $(value TEXT_FILE)
comments-reply: export LAB_COMMENTS_AUTHOR = $(value AUTHOR)
comments-reply: export LAB_COMMENTS_BODY_FILE = $(value BODY_FILE)
comments-reply: export LAB_COMMENTS_TO_PULL = $(value PULL)
comments-erase-address: export LAB_COMMENTS_ADDRESS = $(value ADDR)

comments-show: $(STAMP) ## Show one pending comment in full (ID=)
	@$(COMMENTS) show

comments-approve: $(STAMP) ## Publish a pending comment into content/comments/ (ID=, OVERRIDE=1 for a name like a staff name)
	$(if $(value STAFF),$(error STAFF= is gone: approving never marks a reader's comment as staff. Write a staff reply with make comments-reply ID=<comment> AUTHOR=<key> BODY_FILE=<file>))
	@$(COMMENTS) approve $(if $(filter 1 yes true,$(value OVERRIDE)),--override-name)

comments-reject: $(STAMP) ## Delete a pending comment (ID=)
	@$(COMMENTS) reject

comments-redact: $(STAMP) ## Replace TEXT= (or the text in TEXT_FILE=) in a pending or published comment (ID=)
	@$(COMMENTS) redact

comments-erase: $(STAMP) ## Delete a published comment from content/comments/ (ID=)
	@$(COMMENTS) erase

comments-reply: $(STAMP) ## Publish a Lab team reply to a published comment (ID=, AUTHOR= a key of authors.yaml, BODY_FILE= or standard input; PULL=1: to a comment in an open pull request, on its branch)
	@$(COMMENTS) reply

comments-erase-address: $(STAMP) ## Erase everything kept about a reader's email address: reply emails, follows, queued emails, sender history (ADDR=)
	@$(COMMENTS) erase-address

comments-purge: $(STAMP) ## Delete pending comments over 30 days old and old sender hashes
	@$(COMMENTS) purge

comments-load-test: $(STAMP) ## Load the endpoint on 127.0.0.1: 3 runs of 1,000 comments from 50 clients; prints throughput, p95, server CPU a comment, the target
	PYTHONPATH=plugins $(BIN)/python -m lab_comments.loadtest --submissions $(LOAD_SUBMISSIONS) --clients $(LOAD_CLIENTS) --runs $(LOAD_RUNS)

# -- Moving from WordPress (README: "Moving from WordPress")
# FILE, MAP, UPLOADS and DEFAULT_CATEGORY reach the importer in its environment,
# never through the shell, as for comments-redact above.
unexport FILE MAP UPLOADS DEFAULT_CATEGORY FORCE
import-wordpress: export LAB_IMPORT_FILE = $(value FILE)
import-wordpress: export LAB_IMPORT_MAP = $(value MAP)
import-wordpress: export LAB_IMPORT_UPLOADS = $(value UPLOADS)
import-wordpress: export LAB_IMPORT_DEFAULT_CATEGORY = $(value DEFAULT_CATEGORY)
import-wordpress: export LAB_IMPORT_FORCE = $(value FORCE)

import-wordpress: $(STAMP) ## Import a WordPress export into content/ (FILE=export.xml, MAP=import-map.yaml, UPLOADS=folder, DEFAULT_CATEGORY=Name, FORCE=1)
	@PYTHONPATH=plugins $(BIN)/python -m lab_import.wordpress --settings $(CONFFILE)

BENCH_IMPORT_POSTS ?= 10000
BENCH_IMPORT_COMMENTS ?= 50000
bench-import: $(STAMP) ## Time a synthetic WordPress import (10,000 posts, 50,000 comments) and its peak memory
	PYTHONPATH=plugins $(BIN)/python -m lab_import.bench --posts $(BENCH_IMPORT_POSTS) --comments $(BENCH_IMPORT_COMMENTS)

.PHONY: import-wordpress bench-import

.PHONY: comments-serve comments-list comments-show comments-approve comments-reject \
	comments-redact comments-erase comments-reply comments-erase-address comments-purge comments-load-test

.PHONY: help install html clean regenerate serve devserver publish preview screenshots test lint format check check-tools bench bench-profile weights review-report
