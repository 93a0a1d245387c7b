"""Token handling and TLS: token file errors stop the start naming the
line, a generated admin token goes to --admin-token-file (mode 0600) or
stdout, and --tls-cert/--tls-key serve HTTPS."""

import os
import re
import select
import shutil
import stat
import subprocess

import pytest
import requests

from conftest import FAMFSD, Master, free_port, require, write_tokens


def run_master(pool, *args, timeout=10):
    return subprocess.run([FAMFSD, "master", "--pool", pool, "--listen",
                           f"127.0.0.1:{free_port()}", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("content, why", [
    ("short admin\n", "line 1: token must be 16 to 256"),
    ("# c\n\nabcdefghijklmnopqrst boss\n", "line 3: role must be"),
    ("abcdefghijklmnopqrst tenant\n", "line 1: a tenant token needs a TENANT"),
    ("abcdefghijklmnopqrst admin tA\n", "line 1: only tenant tokens"),
    ("abcdefghijklmnopqrst tenant t/A\n", "line 1: tenant name"),
    ("abcdefghijklmnopqrst admin\nabcdefghijklmnopqrst agent\n",
     "line 2: token appears twice"),
    ("# nothing\n", "no tokens"),
])
def test_bad_token_file_stops_the_start(pool, tmp_path, content, why):
    path = tmp_path / "tokens"
    path.write_text(content)
    path.chmod(0o600)
    p = run_master(pool, "--tokens", str(path))
    assert p.returncode != 0 and why in p.stderr, p.stderr


def test_missing_token_file(pool, tmp_path):
    p = run_master(pool, "--tokens", str(tmp_path / "none"))
    assert p.returncode != 0 and "No such file" in p.stderr


def test_token_file_readable_by_everyone_is_used_with_a_warning(
        pool, tmp_path, master_factory):
    tokens = write_tokens(tmp_path / "open.tokens")
    os.chmod(tokens, 0o644)
    m = master_factory(pool, tokens_file=tokens)
    m.client().get("/v1/pool", expect=200)
    m.client("none-of-these-tokens").get("/v1/pool", expect=401)
    assert (f"token file '{tokens}' is readable by everyone, using it anyway"
            in m.stderr()), m.stderr()


def test_generated_admin_token_file(pool, tmp_path):
    tok_file = tmp_path / "admin.token"
    port = free_port()
    proc = subprocess.Popen([FAMFSD, "master", "--pool", pool, "--listen",
                             f"127.0.0.1:{port}", "--admin-token-file",
                             str(tok_file)], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        m = Master(pool, tmp_path, port=port, start=False)
        m.proc = proc
        m.wait_ready()
        assert stat.S_IMODE(os.stat(tok_file).st_mode) == 0o600
        token = tok_file.read_text().strip()
        assert re.fullmatch(r"[0-9a-f]{64}", token)
        r = requests.get(m.url + "/v1/pool", timeout=5,
                         headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        r = requests.get(m.url + "/v1/pool", timeout=5,
                         headers={"Authorization": "Bearer " + "0" * 64})
        assert r.status_code == 401
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert token not in out and token not in err


def test_generated_admin_token_printed(pool, tmp_path):
    port = free_port()
    proc = subprocess.Popen([FAMFSD, "master", "--pool", pool, "--listen",
                             f"127.0.0.1:{port}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        # A deadline for the line: a master that never prints it fails the
        # test instead of hanging it.
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "no admin token line on stdout within 20 s"
        line = proc.stdout.readline()
        m_token = re.search(r"admin token ([0-9a-f]{64})", line)
        assert m_token, line
        token = m_token.group(1)
        m = Master(pool, tmp_path, port=port, start=False)
        m.proc = proc
        m.wait_ready()
        r = requests.get(m.url + "/v1/pool", timeout=5,
                         headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_tls(pool, tmp_path, master_factory):
    require(shutil.which("openssl"), "openssl (to make a test certificate)")
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    m = master_factory(pool, tls=(cert, key))
    assert m.url.startswith("https://")
    api = m.client()
    api.put("/v1/files/x", json={"size": 1}, expect=201)
    api.get("/v1/files/x", expect=200)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(m.url + "/healthz", timeout=5)     # untrusted by default
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(m.url.replace("https", "http") + "/healthz", timeout=5)


def test_tls_needs_both_files(pool, tmp_path):
    p = run_master(pool, "--tls-cert", str(tmp_path / "c.pem"),
                   "--admin-token-file", str(tmp_path / "t"))
    assert p.returncode != 0 and "go together" in p.stderr
