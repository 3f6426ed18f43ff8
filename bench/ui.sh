#!/usr/bin/env bash
# The web UI in headless chromium over a synthetic Engine API of 100
# nodes and 5,000 tasks (internal/ui TestBrowserSynthetic): time to show
# every card, the page's JS heap, and the time from a task's change (with
# its event) to the card showing it. Figures go in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -count=1 -run TestBrowserSynthetic -v ./internal/ui/ | grep 'measure:'
