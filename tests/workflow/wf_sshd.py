"""A throwaway sshd on 127.0.0.1 for the sshfs tests (shared/docs/sshfs-test.md).

Its own host key, a test user key in its own authorized_keys file, password authentication
off, internal-sftp; stopped by its pid file. Nothing here listens beyond loopback.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/bin/sshd")


def missing_tools() -> list[str]:
    """What the sshfs tests need and this machine lacks (empty when they can run)."""
    missing = []
    if not any(os.access(p, os.X_OK) for p in SSHD_CANDIDATES) and not shutil.which("sshd"):
        missing.append("sshd (openssh-server)")
    for tool in ("sshfs", "ssh-keygen", "fusermount"):
        if shutil.which(tool) is None and not (
            tool == "fusermount" and shutil.which("fusermount3")
        ):
            missing.append(tool)
    if not os.path.exists("/dev/fuse"):
        missing.append("/dev/fuse")
    return missing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pltanomaly-test", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    path.chmod(0o600)
    return path


@dataclass
class Sshd:
    root: Path
    port: int
    user: str
    key: Path
    other_key: Path
    pid_file: Path

    def stop(self) -> None:
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def start_sshd(root: Path) -> Sshd:
    """Start sshd on a free loopback port; raises RuntimeError with sshd's words on failure."""
    sshd = next((p for p in SSHD_CANDIDATES if os.access(p, os.X_OK)), shutil.which("sshd"))
    root.mkdir(parents=True, exist_ok=True)
    host_key = keygen(root / "host_ed25519")
    key = keygen(root / "user_ed25519")
    other_key = keygen(root / "other_ed25519")  # never authorized
    authorized = root / "authorized_keys"
    authorized.write_text((root / "user_ed25519.pub").read_text())
    authorized.chmod(0o600)
    port = free_port()
    pid_file = root / "sshd.pid"
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"Port {port}",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {authorized}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "UsePAM no",
                "StrictModes no",
                "Subsystem sftp internal-sftp",
                f"PidFile {pid_file}",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sshd, "-f", str(config), "-E", str(root / "sshd.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"sshd did not start: {result.stderr.strip()}")
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    else:
        raise RuntimeError(f"sshd does not listen on 127.0.0.1:{port}")
    return Sshd(root, port, getpass.getuser(), key, other_key, pid_file)
