# Shared by the end-to-end scripts (sourced, not a test itself): pass/fail counters and the
# checks that count into them. A script ends with `echo "$pass passed, $fail failed"` and
# `[ "$fail" -eq 0 ]`.
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect_eq() { [ "$1" == "$2" ] && ok || bad "$3: expected '$2', got '$1'"; }
