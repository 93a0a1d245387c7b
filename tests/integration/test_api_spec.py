"""api/openapi.yaml passes `redocly lint` with the recommended rules
(api/redocly.yaml; deliberate exceptions in api/.redocly.lint-ignore.yaml),
and the lint run here really catches a broken spec."""

import json
import os
import subprocess

from conftest import ROOT, SPEC_PATH, require

API_DIR = os.path.join(ROOT, "api")
REDOCLY = os.path.join(API_DIR, "node_modules", ".bin", "redocly")


def lint(spec, cwd=API_DIR):
    """redocly lint's totals and problems for spec (its JSON report)."""
    require(os.access(REDOCLY, os.X_OK),
            f"{REDOCLY} (make deps installs it with npm ci in api/)")
    env = {**os.environ, "REDOCLY_TELEMETRY": "off",
           "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "NO_COLOR": "1"}
    p = subprocess.run([REDOCLY, "lint", "--config",
                        os.path.join(API_DIR, "redocly.yaml"),
                        "--format", "json", spec], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=120)
    start = p.stdout.find("{")
    assert start >= 0, (p.returncode, p.stdout, p.stderr)
    report = json.loads(p.stdout[start:])
    return p.returncode, report


def describe(report):
    return "\n".join(f"{x['severity']} {x['ruleId']}: {x['message']} at "
                     f"{[loc.get('pointer') for loc in x.get('location', [])]}"
                     for x in report["problems"])


def test_spec_passes_redocly_lint_with_no_error_or_warning():
    rc, report = lint(SPEC_PATH)
    totals = report["totals"]
    assert totals["errors"] == 0 and rc == 0, describe(report)
    # Warnings too: a deliberate one goes into .redocly.lint-ignore.yaml
    # with the reason.
    assert totals["warnings"] == 0, describe(report)


def test_lint_catches_a_trailing_slash_path(tmp_path):
    """The error the spec had (a path /v1/dirs/ with a trailing slash) makes
    the same lint fail: the run above would notice a regression."""
    with open(SPEC_PATH) as f:
        text = f.read()
    assert "\n  /v1/dirs:\n" in text
    broken = tmp_path / "openapi.yaml"
    broken.write_text(text.replace("\n  /v1/dirs:\n", "\n  /v1/dirs/:\n", 1))
    rc, report = lint(str(broken), cwd=str(tmp_path))
    assert rc != 0 and report["totals"]["errors"] >= 1, report
    assert any(x["ruleId"] == "no-path-trailing-slash"
               for x in report["problems"]), describe(report)
