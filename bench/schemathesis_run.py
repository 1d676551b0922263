"""Schemathesis at volume: every documented operation, more examples, the coverage phase too.

    .venv/bin/python bench/schemathesis_run.py [--examples 150] [--phases examples,coverage,fuzzing]
                                               [-k EXPR] [--show 20]

Runs tests/test_openapi.py's Schemathesis test (the app in-process over WSGI,
the same world, credentials and checks as CI) through pytest, with
SCHEMATHESIS_EXAMPLES examples per operation in the fuzzing phase, the
coverage phase (boundary values, missing and malformed parameters of every
operation) added, and every failure recorded instead of stopping an
operation at its first. Prints the operations, calls, answers by status per
operation, and the failures (check, request, server traceback), grouped.
Exit status 1 when any check failed.

CI runs the same test with 20 examples and no coverage phase (under a minute);
this takes several minutes. `-k` narrows to operations, e.g. `-k "reports and csv"`.
"""
import argparse
import os
import sys
import time
from collections import Counter, defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=150, help="fuzzing examples per operation")
    parser.add_argument("--phases", default="examples,coverage,fuzzing")
    parser.add_argument("-k", default="", help="pytest -k expression over the operations")
    parser.add_argument("--show", type=int, default=20, help="distinct failures printed in full")
    args = parser.parse_args()
    os.chdir(ROOT)
    sys.path.insert(0, ROOT)
    os.environ.update(SCHEMATHESIS_EXAMPLES=str(args.examples), SCHEMATHESIS_PHASES=args.phases,
                      SCHEMATHESIS_RECORD_ONLY="1")
    import pytest

    selector = "conforms" + (f" and ({args.k})" if args.k else "")
    started = time.perf_counter()
    code = pytest.main(["-q", "-p", "no:cacheprovider", "tests/test_openapi.py", "-k", selector,
                        "-o", "addopts=", "--no-header", "-rN"])
    seconds = time.perf_counter() - started
    module = sys.modules.get("tests.test_openapi")
    if module is None:
        print("tests/test_openapi.py was not imported: nothing ran")
        return 2
    stats = module.STATS
    per_operation = defaultdict(Counter)
    for (label, status), n in stats["by_status"].items():
        per_operation[label][status] += n
    print(f"\nschemathesis: {len(stats['operations'])} operations, {stats['calls']} calls in {seconds:.0f} s "
          f"({args.examples} fuzzing examples per operation, phases {args.phases})")
    print(f"{'operation':<62}{'calls':>7}  answers by status")
    for label in sorted(per_operation):
        counts = per_operation[label]
        text = ", ".join(f"{s}: {n}" for s, n in sorted(counts.items()))
        print(f"{label:<62}{sum(counts.values()):>7}  {text}")
    codes = ", ".join(f"{c}: {n}" for c, n in sorted(stats["push_errors"].items(), key=str))
    print(f"stat/push answers by Smarty error code (0 stored): {codes or 'none'}")
    for why, n in sorted(stats["push_refusals"].items(), key=lambda kv: -kv[1])[:8]:
        print(f"    {n:>5}  {why}")
    failures = stats["failures"]
    distinct = defaultdict(list)
    for f in failures:
        distinct[(f["operation"], tuple(f["failures"]))].append(f)
    print(f"\nfailed calls: {len(failures)}; distinct (operation, failed checks): {len(distinct)}")
    for (label, kinds), found in sorted(distinct.items())[:args.show]:
        first = found[0]
        print(f"\n--- {label}: {len(found)} call(s), status {first['status']}")
        for kind in kinds:
            print(f"    {kind}")
        print(f"    e.g. {first['request'][:600]}")
        if first["traceback"]:
            print("    " + first["traceback"][-2500:].replace("\n", "\n    "))
    print("\nOK: no server error, every answer as documented" if not failures and code == 0
          else f"\nFAILED: {len(failures)} failed call(s); pytest exit {code}")
    return 1 if failures or code not in (0, 5) else 0


if __name__ == "__main__":
    sys.exit(main())
