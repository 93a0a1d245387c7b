"""The Slurm burst buffer (slurm/burst_buffer.lua) in a real Slurm: munge,
slurmctld and slurmd of Debian 12 on this machine (slurm_cluster.py), with
a famfsd master and an agent whose FUSE mount the jobs use.
"""

import os

import pytest

from conftest import require
import slurm_cluster
from slurm_cluster import SlurmCluster


@pytest.fixture
def plain_cluster(tmp_path):
    miss = slurm_cluster.missing()
    require(not miss, "the Slurm tests need " + "; ".join(miss))
    c = SlurmCluster(tmp_path)
    yield c
    c.close()
    assert not c.leftovers()


def test_plain_job_runs(plain_cluster):
    """The cluster itself: a batch job runs on this host and its output
    is where sbatch -o put it."""
    c = plain_cluster
    job = c.sbatch("#!/bin/sh\nhostname\necho \"uid=$(id -u)\"\n")
    info = c.wait_state(job, "COMPLETED", timeout=30)
    assert info["ExitCode"] == "0:0", info
    assert c.output(job) == f"{os.uname().nodename}\nuid={c.uid}\n"
