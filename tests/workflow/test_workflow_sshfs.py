"""sshfs sources for real: a throwaway sshd on 127.0.0.1, the package's mount and its error
messages, and the workflow mounting a year's source itself (shared/docs/sshfs-test.md)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
from wf_helpers import fill_folders, link_tree, planned, read_logs, snakemake, write_config
from wf_sshd import Sshd, missing_tools, start_sshd

from pltanomaly.core.config import MountError, SshfsSource, ensure_mounted, mount_at, unmount

pytestmark = pytest.mark.sshfs

TEST_OPTIONS = {"StrictHostKeyChecking": "no", "UserKnownHostsFile": "/dev/null"}


@pytest.fixture(scope="module")
def sshd(tmp_path_factory) -> Sshd:
    missing = missing_tools()
    if missing:
        reason = f"sshfs tests need {', '.join(missing)} (apt packages: tests/APT_PACKAGES)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    try:
        server = start_sshd(tmp_path_factory.mktemp("sshd"))
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        print(f"SKIP: cannot run a test sshd: {exc}")
        pytest.skip(f"cannot run a test sshd: {exc}")
    yield server
    server.stop()


@pytest.fixture
def remote(tmp_path) -> Path:
    folder = tmp_path / "brildata" / "22"
    (folder / "8001").mkdir(parents=True)
    (folder / "8001" / "8001_355000_2207050013_2207050031.hd5").write_bytes(b"x")
    return folder


def source(sshd: Sshd, remote: Path, mountpoint: Path, **changes) -> SshfsSource:
    fields = {
        "host": "127.0.0.1",
        "remote": str(remote),
        "mountpoint": mountpoint,
        "user": sshd.user,
        "port": sshd.port,
        "identity_file": str(sshd.key),
        "ssh_options": tuple(TEST_OPTIONS.items()),
        "timeout": 15.0,
        **changes,
    }
    return SshfsSource(**fields)


@pytest.fixture
def mountpoint(tmp_path):
    path = tmp_path / "mnt"
    yield path
    unmount(path)


def test_mount_reads_the_remote_and_is_reused(sshd, remote, mountpoint):
    src = source(sshd, remote, mountpoint)
    assert ensure_mounted(src) == mountpoint
    info = mount_at(mountpoint)
    assert info is not None and info.fstype == "fuse.sshfs" and info.source == src.target
    assert (mountpoint / "8001" / "8001_355000_2207050013_2207050031.hd5").read_bytes() == b"x"
    assert ensure_mounted(src) == mountpoint  # already mounted by us: reused
    assert unmount(mountpoint) and mount_at(mountpoint) is None


def test_missing_key(sshd, remote, mountpoint, tmp_path):
    src = source(sshd, remote, mountpoint, identity_file=str(tmp_path / "no_such_key"))
    with pytest.raises(MountError, match=r"key file .*no_such_key for .* does not exist"):
        ensure_mounted(src)
    assert mount_at(mountpoint) is None


def test_refused_key(sshd, remote, mountpoint):
    src = source(sshd, remote, mountpoint, identity_file=str(sshd.other_key))
    with pytest.raises(MountError, match=r"127\.0\.0\.1 refused the key .*other_ed25519"):
        ensure_mounted(src)
    assert mount_at(mountpoint) is None


def test_key_readable_by_others(sshd, remote, mountpoint, tmp_path):
    key = tmp_path / "open_key"
    key.write_bytes(sshd.key.read_bytes())
    key.chmod(0o644)
    with pytest.raises(MountError, match=r"readable by others .*chmod 600"):
        ensure_mounted(source(sshd, remote, mountpoint, identity_file=str(key)))


def test_closed_port(sshd, remote, mountpoint):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(MountError, match=f"refuses connections on port {port}"):
        ensure_mounted(source(sshd, remote, mountpoint, port=port))


def test_missing_remote_folder(sshd, remote, mountpoint):
    src = source(sshd, remote / "nowhere", mountpoint)
    with pytest.raises(MountError, match=r"remote folder .*nowhere does not exist"):
        ensure_mounted(src)
    assert mount_at(mountpoint) is None


def test_something_else_already_mounted_there(sshd, remote, mountpoint, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    ensure_mounted(source(sshd, other, mountpoint))
    with pytest.raises(MountError, match=r"already mounted \(fuse.sshfs of .*other\)"):
        ensure_mounted(source(sshd, remote, mountpoint))


def test_mountpoint_not_empty(sshd, remote, mountpoint):
    mountpoint.mkdir()
    (mountpoint / "stray").write_text("x")
    with pytest.raises(MountError, match="not empty"):
        ensure_mounted(source(sshd, remote, mountpoint))


def test_kerberos_without_ticket(sshd, remote, mountpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'no-cache'}")
    src = source(sshd, remote, mountpoint, auth="kerberos", identity_file="")
    with pytest.raises(MountError, match="Kerberos"):
        ensure_mounted(src)


def _sshfs_config(sshd: Sshd, remote: Path, **year) -> dict:
    return {
        "results": "results",
        "years": {
            2022: {
                "source": {
                    "sshfs": {
                        "host": "127.0.0.1",
                        "port": sshd.port,
                        "user": sshd.user,
                        "remote": str(remote),
                        "mountpoint": "mnt/22",
                        "identity_file": str(sshd.key),
                        "ssh_options": TEST_OPTIONS,
                        "timeout": 15,
                    }
                },
                "dead_channels": [6, 8],
                **year,
            }
        },
    }


def test_workflow_mounts_its_source_and_processes_through_it(sshd, tmp_path, source_tree):
    remote = tmp_path / "brildata" / "22"
    folder = fill_folders(source_tree / "22")[0]
    link_tree(folder, remote / folder.name)
    workdir = tmp_path / "work"
    workdir.mkdir()
    write_config(workdir, _sshfs_config(sshd, remote))
    try:
        jobs = planned(workdir)  # the dry run mounts and discovers through the mount
        assert ("analyse_fill", (("year", "2022"), ("fill", folder.name))) in jobs
        assert mount_at(workdir / "mnt" / "22") is not None
        snakemake(workdir)
        assert read_logs(workdir, 2022)["fills"][folder.name]["status"] == "ok"
        assert planned(workdir) == set()  # the mount is reused; nothing to do
    finally:
        unmount(workdir / "mnt" / "22")


def test_workflow_says_what_is_wrong_with_the_mount(sshd, tmp_path):
    remote = tmp_path / "brildata" / "22"
    remote.mkdir(parents=True)
    workdir = tmp_path / "work"
    workdir.mkdir()
    config = _sshfs_config(sshd, remote)
    config["years"][2022]["source"]["sshfs"]["identity_file"] = str(sshd.other_key)
    write_config(workdir, config)
    result = snakemake(workdir, "-n", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "year 2022: cannot mount" in output and "refused the key" in output
    assert "Traceback" not in output
    assert not os.path.ismount(workdir / "mnt" / "22")
