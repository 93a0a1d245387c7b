"""Both roles' command-line options, from the real famfsd binary: every
option of `famfsd master` and `famfsd agent` given a bad value exits with
one message that names that option (not another one, the agent's errors
used to name the option next to it in its getopt table), and the lists of
bad values below cover exactly the options `--help` prints, so an option
added to the table (famfsd/conf/options.c) without a case here fails.

The pool and mount given around the bad option do not exist: an option
that were wrongly accepted makes the role fail on the pool instead, and
the test sees a message that does not name the option.
"""

import re
import subprocess

import pytest

from conftest import AGENT_TOKEN, FAMFSD

NO_POOL = "/nonexistent/famfsd-test/pool.img"
UUID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

# A bad value for every option; "=..." is attached ("--direct-io=1").
SHARED = {
    "pool": "",
    "pool-uuid": "zz",
    "devices": "/dev/dax*",     # without --config: the option is refused
    "offset": "zz",
    "coherence": "bogus",
    "config": "",
    "help": "=1",
}
BAD = {
    "master": dict(SHARED, **{
        "listen": "localhost:7470",
        "tokens": "",
        "admin-token-file": "",
        "tls-cert": "",
        "tls-key": "",
        "force-takeover": "=1",
        "slot": "17",
        "advertise": "ftp://10.0.0.1:7470",
        "lease-seconds": "0",
        "reclaim-grace-ms": "3600001",
        "agent-timeout": "0",
        "compact-at": "91",
        "scrub-rate": "4097",
        "http-threads": "65",
        "max-connections": "0",
        "max-per-ip": "65537",
        "idle-timeout": "86401",
        "header-timeout": "0",
        "body-timeout": "3601",
    }),
    "agent": dict(SHARED, **{
        "mount": "",
        "backend": "bogus",
        "master": "ftp://10.0.0.1:7470",
        "token-file": "",
        "token": "short",
        "agent-id": "a b",
        "address": "bell\a",
        "poll-ms": "0",
        "direct-io": "=1",
        "meta-rw": "=1",
        "verbose": "=1",
    }),
}


def famfsd(*args, timeout=30):
    return subprocess.run([FAMFSD, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def help_options(role):
    """The long options of the option lines of `famfsd ROLE --help`."""
    p = famfsd(role, "--help")
    assert p.returncode == 0 and p.stderr == "", p
    names = re.findall(r"^(?:  -\w, |      )--([a-z-]+)", p.stdout, re.M)
    assert len(names) == len(set(names)), names
    return set(names)


def base_args(role, tmp_path, option):
    """A command line the option is added to: a pool, and the agent's mount."""
    args = [] if option in ("pool", "pool-uuid") else ["--pool", NO_POOL]
    if role == "agent" and option != "mount":
        args += ["--mount", tmp_path / "mnt"]
    return args


def named_options(line):
    """The options a message names, the usage hint at its end left out."""
    line = re.sub(r" \(see 'famfsd \w+ --help'\)$", "", line)
    return re.findall(r"--[a-z][a-z-]*", line)


def error_line(p):
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert lines, p
    return lines[-1]


@pytest.mark.parametrize("role", ["master", "agent"])
def test_bad_value_cases_cover_every_option_of_help(role):
    assert set(BAD[role]) == help_options(role)


@pytest.mark.parametrize("role, option", [(r, o) for r in BAD for o in BAD[r]])
def test_every_bad_option_is_named(role, option, tmp_path):
    value = BAD[role][option]
    bad = [f"--{option}{value}"] if value.startswith("=") else [f"--{option}", value]
    p = famfsd(role, *base_args(role, tmp_path, option), *bad)
    line = error_line(p)
    named = named_options(line)
    assert named and named[0] == f"--{option}", (line, p.stderr)
    # --config FILE is read before the role starts: EX_CONFIG, like a bad file.
    assert p.returncode == (78 if option == "config" else 2), p
    assert p.stdout == "", p


def test_the_agents_old_misnamed_errors():
    """The four cases issue 11 found naming the neighbouring option."""
    cases = {
        ("--poll-ms", "0"): "bad value '0' for --poll-ms: want an integer from 1 to 60000",
        ("--backend", "bogus"): "bad value 'bogus' for --backend: want one of auto, fuse, kmod",
        ("--offset", "zz"): "bad value 'zz' for --offset: want a number of bytes",
        ("--agent-id", "a b"): "bad value 'a b' for --agent-id: want 1 to 128 of",
    }
    for args, want in cases.items():
        p = famfsd("agent", "--pool", NO_POOL, "--mount", "/nonexistent/m", *args)
        assert p.returncode == 2 and want in p.stderr, p.stderr
        assert p.stderr.count("\n") == 1, p.stderr


def test_missing_and_conflicting_options_are_named(tmp_path):
    cases = [
        (["master"], "--pool or --pool-uuid is needed"),
        (["master", "--pool", NO_POOL, "--pool-uuid", UUID],
         "give --pool or --pool-uuid, not both"),
        (["master", "--pool", NO_POOL, "--tls-cert", "/x"],
         "--tls-cert and --tls-key go together"),
        (["master", "--pool", NO_POOL, "--lease-seconds"], "--lease-seconds needs a value"),
        (["master", "--pool", NO_POOL, "--mount", "/m"], "unknown option '--mount'"),
        (["master", "--pool", NO_POOL, "stray"], "unexpected argument 'stray'"),
        (["agent", "--pool", NO_POOL], "--mount is needed"),
    ]
    for args, want in cases:
        p = famfsd(*args)
        assert p.returncode == 2 and want in p.stderr, (args, p.stderr)


def test_abbreviated_options_are_refused(tmp_path):
    """getopt would take "--conf" for --config, but main.c looks for
    --config by its full name first: the master used to start without the
    file's settings. Every role refuses a prefix and names the option."""
    conf = tmp_path / "c.conf"
    conf.write_text(f"[famfsd]\nrole = master\n[pool]\npath = {NO_POOL}\n")
    cases = [
        (["master", "--conf", conf], "--conf", "--config"),
        (["master", f"--conf={conf}"], "--conf=", "--config"),
        (["master", "--pool", NO_POOL, "--lease-s", "3"], "--lease-s", "--lease-seconds"),
        (["agent", "--pool", NO_POOL, "--mou", tmp_path / "m"], "--mou", "--mount"),
        (["agent", "--pool", NO_POOL, "--mount", tmp_path / "m", "--poll", "5"],
         "--poll", "--poll-ms"),
    ]
    for args, typed, meant in cases:
        p = famfsd(*args)
        line = error_line(p)
        assert p.returncode == 2, (args, p.stderr)
        assert f"unknown option '{typed}" in line and f"did you mean {meant}?" in line, \
            (args, p.stderr)


def test_token_file_errors_name_the_option(tmp_path):
    """A --token-file that cannot be used stops the agent naming the option
    and the file, and never echoes what the file holds."""
    missing = tmp_path / "none.token"
    two_words = tmp_path / "two.token"
    two_words.write_text(f"{AGENT_TOKEN} agent\n")
    empty = tmp_path / "empty.token"
    empty.write_text("# no token yet\n\n")
    for path, why in [(missing, "No such file"),
                      (two_words, "printable ASCII without spaces"),
                      (empty, "no token in it")]:
        p = famfsd("agent", "--pool", NO_POOL, "--mount", tmp_path / "m",
                   "--token-file", path)
        line = error_line(p)
        assert p.returncode == 2 and f"--token-file '{path}'" in line, p.stderr
        assert why in line and AGENT_TOKEN not in p.stderr, p.stderr


def test_conf_layer_options_are_named_with_config(tmp_path):
    """With --config, main.c takes --pool-uuid and --devices itself: a bad
    value is still named, and refused like a bad file (EX_CONFIG)."""
    conf = tmp_path / "n.conf"
    conf.write_text(f"[famfsd]\nrole = both\n[pool]\nuuid = {UUID}\n"
                    f"[agent]\nmount = {tmp_path / 'mnt'}\n")
    for role in ("master", "agent"):
        for option, value, why in [
                ("--pool-uuid", "zz", "want a UUID"),
                ("--devices", "dax*", "each pattern must be an absolute path")]:
            p = famfsd(role, "--config", conf, option, value)
            line = error_line(p)
            assert p.returncode == 78, p
            assert named_options(line)[:1] == [option] and why in line, p.stderr


def test_help_is_the_tables(tmp_path):
    """--help prints to stdout and exits 0 even next to a bad option, with
    the ranges and defaults the parse enforces."""
    p = famfsd("agent", "--poll-ms", "0", "--help")
    assert p.returncode == 2, p     # the bad value comes first
    p = famfsd("agent", "--help", "--poll-ms", "0")
    assert p.returncode == 0 and "(1-60000, default 50)" in p.stdout, p
    p = famfsd("master", "-h")
    assert p.returncode == 0 and "(1-3600, default 2)" in p.stdout, p
    assert max(len(l) for l in p.stdout.splitlines()) <= 80
