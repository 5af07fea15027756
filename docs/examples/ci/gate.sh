#!/bin/sh
# Runs the fp4lab regression gate for a CI job and leaves its outputs in $OUT:
#   gate.xml          JUnit XML (one test case per rule) for the CI's test view
#   gate.md           Markdown summary (appended to $GITHUB_STEP_SUMMARY when set)
#   gate-result.json  machine-readable result, also shown in the report's verdict section
#   report.html       the HTML report of the gated run, with the gate's verdict
# Exits with the gate's code: 0 all rules pass, 1 a rule failed, 2 the gate could not evaluate
# (3: fp4lab itself failed). See docs/GATE.md.
#
# Environment (all optional):
#   FP4LAB    fp4lab binary                      (default: fp4lab on PATH)
#   DB        result database                    (default: results.sqlite)
#   RULES     rules file                         (default: docs/examples/gate.json)
#   RUN       candidate run id                   (default: the newest complete run)
#   BASELINE  baseline run id or tag             (default: main; empty: no baseline)
#   OUT       output directory                   (default: gate-out)
set -u

FP4LAB=${FP4LAB:-fp4lab}
DB=${DB:-results.sqlite}
RULES=${RULES:-docs/examples/gate.json}
RUN=${RUN:-}
BASELINE=${BASELINE-main}
OUT=${OUT:-gate-out}

mkdir -p "$OUT" || exit 3

set -- --db "$DB" --rules "$RULES" --junit "$OUT/gate.xml" --markdown "$OUT/gate.md" --json "$OUT/gate-result.json"
[ -n "$RUN" ] && set -- "$@" --run "$RUN"
[ -n "$BASELINE" ] && set -- "$@" --baseline "$BASELINE"

"$FP4LAB" gate "$@"
code=$?

# The report is for people: a failure to render it must not change the gate's verdict.
set -- --db "$DB" --out "$OUT/report.html"
[ -n "$RUN" ] && set -- "$@" --runs "$RUN"
[ -f "$OUT/gate-result.json" ] && set -- "$@" --gate "$OUT/gate-result.json"
"$FP4LAB" report "$@" || echo "gate.sh: warning: the report could not be rendered" >&2

if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$OUT/gate.md" ]; then
  cat "$OUT/gate.md" >> "$GITHUB_STEP_SUMMARY"
fi

case $code in
  0) echo "gate.sh: pass" ;;
  1) echo "gate.sh: FAIL: at least one rule failed (see $OUT/gate.md)" >&2 ;;
  2) echo "gate.sh: CANNOT EVALUATE: fix the rules, the database or the baseline (see $OUT/gate.md)" >&2 ;;
  *) echo "gate.sh: fp4lab gate failed with exit code $code" >&2 ;;
esac
exit "$code"
