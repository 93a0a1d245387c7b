"""A seeded random walk over the API against a model of the namespace.

Each step is a valid request (create, mkdir, delete, stat on a small set of
names, so paths collide, nest and go missing often) or a bad one (bodies of
the wrong type, range or shape, broken JSON, oversized bodies, bad path
segments, missing or wrong tokens). The model predicts every status; a
bad request must be refused with a Problem and change nothing. Every reply
is checked against api/openapi.yaml. At the end the master's tree equals
the model, again after a kill -9 and a restart, and fsck finds the pool
clean. Run under the ASan+UBSan and TSan builds too (make test).

FAMFSD_RANDOM_SEED=N reproduces a run; the seed is in every failure.
"""

import os
import random
import time

from urllib.parse import quote

from conftest import ApiClient, Master, api_tree, famfsctl, make_pool, raw_request

NAMES = ["a", "b", "c", "d\u00e9", "x y"]
STEPS = int(os.environ.get("FAMFSD_RANDOM_STEPS", "1500"))
BAD_PATHS = ["%00", "a%2Fb", "..", ".", "a/../b", "%ff%fe", "a//b",
             "n" * 256, "/".join(["d"] * 2100)]


class Model:
    """The namespace as the acknowledged requests left it."""

    def __init__(self):
        self.entries = {"/": ("dir", 0)}

    def parent(self, path):
        return path.rsplit("/", 1)[0] or "/"

    def children(self, path):
        prefix = path.rstrip("/") + "/"
        return [p for p in self.entries if p != path and p.startswith(prefix)]

    def create_status(self, path, kind, size):
        """What PUT should answer (the model's view), before applying it."""
        parent = self.parent(path)
        st = self.lookup_status(parent)
        if st != 200:
            return st
        if self.entries[parent][0] != "dir":
            return 409
        have = self.entries.get(path)
        if have is None:
            return 201
        return 200 if have == (kind, size) else 409

    def lookup_status(self, path):
        """200 if path exists, 404 if a step is missing, 409 if a step is a file."""
        if path == "/":
            return 200
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            e = self.entries.get("/" + "/".join(parts[:i]))
            if e is None:
                return 404
            if e[0] != "dir":
                return 409
        return 200 if path in self.entries else 404

    def delete_status(self, path):
        st = self.lookup_status(path)
        if st != 200:
            return st
        if self.entries[path][0] == "dir" and self.children(path):
            return 409
        return 200


def random_path(rng):
    return "/" + "/".join(rng.choice(NAMES) for _ in range(rng.randint(1, 3)))


def url_path(path):
    return quote(path.lstrip("/"), safe="/")


def bad_create_body(rng, unit):
    """A JSON body (as text) that CreateFileRequest refuses."""
    size = rng.choice([1, unit, 3 * unit])
    return rng.choice([
        f'{{"size": "{size}"}}', '{"size": 1.5}', '{"size": true}',
        '{"size": null}', '{"size": []}', '{"size": {}}', '{"size": 0}',
        '{"size": -1}', f'{{"size": {2 ** 64}}}', '{"size": 1e400}',
        f'{{"size": {size}, "bogus": 1}}', '{}', '[]', 'null', '"x"',
        f'{{"size": {size}', f'{{"size": {size}}}}}', '',
        f'{{"size": {size}, "mode": -1}}', f'{{"size": {size}, "mode": 61440}}',
        f'{{"size": {size}, "mode": "0644"}}', f'{{"size": {size}, "uid": -1}}',
        f'{{"size": {size}, "gid": {2 ** 32}}}',
        f'{{"size": {size}, "tenant": "{"t" * 64}"}}',
        f'{{"size": {size}, "tenant": ".."}}', f'{{"size": {size}, "tenant": 7}}',
        '{"size": ' + "[" * 5000 + "]" * 5000 + "}",
    ])


class Walk:
    def __init__(self, master, seed):
        self.master = master
        self.api = master.client("admin")
        self.rng = random.Random(seed)
        self.seed = seed
        self.model = Model()
        self.unit = self.api.get("/v1/pool", expect=200).json()["alloc_unit"]
        self.counts = {}

    def expect(self, what, r, statuses):
        self.counts[what] = self.counts.get(what, 0) + 1
        assert r.status_code in statuses, (
            f"seed {self.seed}: {what}: {r.request.method} {r.request.url} "
            f"body {r.request.body!r:.200} -> {r.status_code} {r.text:.300}, "
            f"the model expected {statuses}")

    def step(self):
        kind = self.rng.choices(
            ["create", "mkdir", "delete", "stat", "bad_body", "bad_path",
             "bad_token", "big_body"],
            weights=[30, 15, 20, 10, 12, 6, 4, 1])[0]
        getattr(self, kind)()

    def create(self):
        path = random_path(self.rng)
        size = self.rng.choice([1, self.unit, 2 * self.unit + 1])
        want = self.model.create_status(path, "file", size)
        r = self.api.put("/v1/files/" + url_path(path), json={"size": size})
        self.expect("create", r, {want})
        if r.status_code == 201:
            self.model.entries[path] = ("file", size)
            assert r.json()["size"] == size

    def mkdir(self):
        path = random_path(self.rng)
        want = self.model.create_status(path, "dir", 0)
        r = self.api.put("/v1/dirs/" + url_path(path), json={})
        self.expect("mkdir", r, {want})
        if r.status_code == 201:
            self.model.entries[path] = ("dir", 0)

    def delete(self):
        path = random_path(self.rng)
        want = self.model.delete_status(path)
        r = self.api.delete("/v1/files/" + url_path(path))
        self.expect("delete", r, {want})
        if r.status_code == 200:
            del self.model.entries[path]

    def stat(self):
        path = random_path(self.rng)
        r = self.api.get("/v1/files/" + url_path(path))
        self.expect("stat", r, {self.model.lookup_status(path)})
        if r.status_code == 200:
            kind, size = self.model.entries[path]
            assert (r.json()["type"], r.json()["size"]) == (kind, size), r.text

    def bad_body(self):
        path = random_path(self.rng)
        body = bad_create_body(self.rng, self.unit)
        r = self.api.put("/v1/files/" + url_path(path), data=body.encode(),
                         headers={"Content-Type": "application/json"})
        self.expect("bad body", r, {400})

    def big_body(self):
        body = '{"size": 1, "pad": "' + "x" * (1 << 20) + '"}'
        r = self.api.put("/v1/files/big", data=body.encode(),
                         headers={"Content-Type": "application/json"})
        self.expect("oversized body", r, {413})

    def bad_path(self):
        raw = self.rng.choice(BAD_PATHS)
        method, prefix = self.rng.choice([("PUT", "/v1/files/"), ("PUT", "/v1/dirs/"),
                                          ("GET", "/v1/files/"),
                                          ("DELETE", "/v1/files/")])
        body = b'{"size": 4096}' if prefix == "/v1/files/" and method == "PUT" else b"{}"
        status, _, text = raw_request(self.master.url, method, prefix + raw,
                                      token=self.master.admin_token,
                                      body=body if method == "PUT" else None,
                                      headers={"Content-Type": "application/json"})
        self.counts["bad path"] = self.counts.get("bad path", 0) + 1
        assert status == 400, (f"seed {self.seed}: {method} {prefix}{raw[:80]} -> "
                               f"{status} {text[:300]!r}")

    def bad_token(self):
        token = self.rng.choice([None, "", "nope", self.master.admin_token + "x"])
        client = ApiClient(self.master.url)
        if token is not None:
            client.s.headers["Authorization"] = f"Bearer {token}"
        r = client.put("/v1/files/" + url_path(random_path(self.rng)),
                       json={"size": 1})
        self.expect("bad token", r, {401})


def master_tree(api):
    """The master's namespace in the model's shape."""
    tree = {"/": ("dir", 0)}
    for path, (kind, size, *_) in api_tree(api).items():
        tree[path] = (kind, size if kind == "file" else 0)
    return tree


def test_random_walk_matches_the_model(tmp_path):
    seed = int(os.environ.get("FAMFSD_RANDOM_SEED", str(time.time_ns() % 10**9)))
    pool = make_pool(tmp_path / "pool.img", size="1G")
    with Master(pool, tmp_path) as master:
        walk = Walk(master, seed)
        deadline = time.monotonic() + 60
        for _ in range(STEPS):
            walk.step()
            if time.monotonic() > deadline:
                break
        # Every kind of step ran, and the walk did build a tree.
        assert len(walk.counts) == 8, (seed, walk.counts)
        assert len(walk.model.entries) > 5, (seed, walk.model.entries)
        assert master_tree(walk.api) == walk.model.entries, f"seed {seed}"

        # Acknowledged means durable: the same tree after a crash.
        master.kill()
        master.start()
        api = master.client("admin")
        assert master_tree(api) == walk.model.entries, f"seed {seed}"
    r = famfsctl("fsck", pool)
    assert r.returncode == 0, (seed, r.stdout, r.stderr)
