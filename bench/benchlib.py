"""What every Python bench here shares: percentiles, the verdict beside a
target, and the check of what a bench needs before it starts."""


def pct(values, p):
    """The p-th percentile by nearest rank (of 7 runs, p99 is the slowest);
    nan for no values."""
    v = sorted(values)
    if not v:
        return float("nan")
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def met(value, target):
    return "met" if value < target else "MISSED"


def lacking(bench, needs):
    """needs: (ok, what) pairs. When one is not ok, prints that the bench
    is skipped and why, and returns True (the bench then exits 0)."""
    missing = [what for ok, what in needs if not ok]
    if missing:
        print(f"{bench}: skipped, needs {', '.join(missing)}")
    return bool(missing)
