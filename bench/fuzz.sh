#!/usr/bin/env bash
# Runs every fuzz test of the project for FUZZTIME each (default 2m), one
# after another, and prints one line per target:
#   fuzz PACKAGE TARGET time=T execs=N result=ok|FAIL
# A crash leaves its input under the package's testdata/fuzz/TARGET/ and
# the run fails: fix the code, keep the input as a regression seed.
# The image targets start a private containerd: on a shared machine, run
# the script under the lock the e2e tests use
# (flock /tmp/shoal-e2e.lock bench/fuzz.sh). `make fuzz-short` runs it with
# FUZZTIME=5s.
# FUZZ_SKIP, a regexp, leaves targets out: `make fuzz-short` leaves out the
# image targets, whose few execs a second through containerd end a 5 s run
# with "context deadline exceeded" now and then (their seed corpora still
# run in plain go test).
# Usage: [FUZZTIME=2m] [FUZZ_SKIP=REGEXP] bench/fuzz.sh [TARGET-REGEXP]
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-2m}
only=${1:-.}

targets=(
	"./internal/filters FuzzParse"
	"./internal/ca FuzzParseJoinToken"
	"./internal/controlapi FuzzParseUnlockKey"
	"./internal/archive FuzzExtract"
	"./internal/build FuzzExtractContext"
	"./internal/container FuzzCreateRequest"
	"./internal/executor/containerdexec/jsonlog FuzzRead"
	"./internal/cli/logline FuzzParse"
	"./internal/stack FuzzLoadConvert"
	"./internal/apiserver FuzzRequestBody"
	"./internal/images FuzzImport"
	"./internal/images FuzzLoad"
)

failed=0
for t in "${targets[@]}"; do
	set -- $t
	pkg=$1 target=$2
	[[ $target =~ $only ]] || continue
	[[ -n ${FUZZ_SKIP:-} && $target =~ $FUZZ_SKIP ]] && continue
	out=$(mktemp)
	go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg" >"$out" 2>&1
	rc=$?
	execs=$(grep -o 'execs: [0-9]*' "$out" | tail -1 | cut -d' ' -f2)
	result=ok
	if [ $rc -ne 0 ]; then
		result=FAIL
		failed=1
		tail -30 "$out" >&2
	fi
	echo "fuzz $pkg $target time=$fuzztime execs=${execs:-0} result=$result"
	rm -f "$out"
done
exit $failed
