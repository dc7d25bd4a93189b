"""tap.py - TAP output for the Python-driven tests (tests/*.t)."""
import sys

count = failed = 0


def ok(cond, msg):
    """One test line; returns cond so callers can print diagnostics."""
    global count, failed
    count += 1
    failed += not cond
    print("%sok %d - %s" % ("" if cond else "not ", count, msg))
    return cond


def done():
    print("1..%d" % count)
    sys.exit(1 if failed else 0)
