"""Workflow configuration shared by every family: loading and schema validation, settings
and code hashes, and sshfs sources.

The configuration (``config/config.yaml``) is validated against
``workflow/schemas/config.schema.yaml``; each family builds its own part from the validated
mapping (the PLT years: :mod:`pltanomaly.channels.years`). A source may be an sshfs mount of
a folder through a gateway host, which :func:`ensure_mounted` mounts and checks, saying what
is wrong when it cannot. Nothing here imports numpy or pandas at import time: the Snakefile
imports this module at every parse.
"""

from __future__ import annotations

import copy
import getpass
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pltanomaly.core.errors import InputError

SCHEMA_RELPATH = Path("workflow") / "schemas" / "config.schema.yaml"
DEFAULT_MOUNT_ROOT = Path("mnt") / "brildata"
FORBIDDEN_SOURCE_KEYS = frozenset({"password", "passphrase", "passwd", "sshpass"})
# ssh options the user may not set: they would let ssh ask for a password
FORBIDDEN_SSH_OPTIONS = frozenset(
    {"passwordauthentication", "kbdinteractiveauthentication", "batchmode",
     "challengeresponseauthentication", "numberofpasswordprompts"}
)  # fmt: skip


class ConfigError(InputError, ValueError):
    """An invalid workflow configuration; the message says where and what."""


class MountError(InputError, RuntimeError):
    """An sshfs source that cannot be mounted or used; the message says why and what to do."""


# --------------------------------------------------------------------------- schema


def default_schema_path() -> Path:
    """The workflow's config schema in the source tree this package comes from."""
    path = Path(__file__).resolve().parents[3] / SCHEMA_RELPATH
    if not path.is_file():
        raise FileNotFoundError(
            f"config schema not found at {path}: pass schema_path= (the workflow's "
            f"{SCHEMA_RELPATH})"
        )
    return path


def load_schema(schema_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    path = Path(schema_path) if schema_path is not None else default_schema_path()
    with open(path) as handle:
        return yaml.safe_load(handle)


def _where(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def normalize_config(config: dict[str, Any]) -> dict[str, Any]:
    """Make ``config`` fit for JSON-schema validation, in place, and return it.

    YAML reads ``2022:`` as an integer key; JSON schema wants string keys. Also refuses,
    with a plain message, any attempt to configure a password.
    """
    years = config.get("years")
    if isinstance(years, dict):
        normalized = {str(key): value for key, value in years.items()}
        years.clear()
        years.update(normalized)
        for year, entry in years.items():
            source = entry.get("source") if isinstance(entry, dict) else None
            sshfs = source.get("sshfs") if isinstance(source, dict) else None
            if isinstance(sshfs, dict):
                bad = FORBIDDEN_SOURCE_KEYS & {str(k).lower() for k in sshfs}
                if bad:
                    raise ConfigError(
                        f"config years.{year}.source.sshfs: {', '.join(sorted(bad))} is not "
                        "accepted: authenticate with a key (auth: key, identity_file) or a "
                        "Kerberos ticket (auth: kerberos); passwords are never used"
                    )
                options = sshfs.get("ssh_options") or {}
                if isinstance(options, dict):
                    bad = FORBIDDEN_SSH_OPTIONS & {str(k).lower() for k in options}
                    if bad:
                        raise ConfigError(
                            f"config years.{year}.source.sshfs.ssh_options: "
                            f"{', '.join(sorted(bad))} cannot be set: the mount runs in batch "
                            "mode with password authentication off"
                        )
    return config


def _validator(schema: dict[str, Any], set_defaults: bool) -> Any:
    import jsonschema

    base = jsonschema.validators.validator_for(schema)
    if not set_defaults:
        return base(schema)
    validate_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):  # type: ignore[no-untyped-def]
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    extended = jsonschema.validators.extend(base, {"properties": properties_with_defaults})
    return extended(schema)


def validate_config(
    config: dict[str, Any],
    schema_path: str | os.PathLike[str] | None = None,
    *,
    set_defaults: bool = True,
) -> dict[str, Any]:
    """Normalize and validate ``config`` in place (filling schema defaults); return it.

    Raises :class:`ConfigError` listing every problem as ``config <where>: <what>``.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"config: expected a mapping, got {type(config).__name__}")
    normalize_config(config)
    schema = load_schema(schema_path)
    problems = []
    for error in sorted(
        _validator(schema, False).iter_errors(config), key=lambda e: list(map(str, e.path))
    ):
        message = error.message
        if error.validator == "oneOf" and list(error.path)[-1:] == ["source"]:
            message = (
                f"{error.instance!r} is not a valid source: give a folder path (string) or "
                "{sshfs: {host, remote, ...}}"
            )
            details = [e.message for e in error.context if e.validator != "type"]
            if details:
                message += f" ({'; '.join(details)})"
        elif error.validator == "additionalProperties" and list(error.path)[-1:] == ["years"]:
            message += " (year keys are four-digit years, e.g. 2022)"
        elif error.validator == "anyOf" and not list(error.path):
            message = "give 'years' (the PLT family), 'dt' (the DT chambers family), or both"
        problems.append(f"config {_where(error.path)}: {message}")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    if set_defaults:
        _validator(schema, True).validate(config)
    return config


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A YAML config file as read, not validated (:class:`ConfigError` naming the file when
    it is not valid YAML)."""
    try:
        with open(path) as handle:
            return yaml.safe_load(handle) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"{path}:{line} not valid YAML ({problem})") from exc


def load_config(
    path: str | os.PathLike[str], schema_path: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    return validate_config(read_config(path), schema_path)


# --------------------------------------------------------------------------- years


@dataclass(frozen=True)
class SshfsSource:
    """An sshfs mount of ``user@host:remote`` on ``mountpoint``."""

    host: str
    remote: str
    mountpoint: Path
    user: str = ""
    port: int = 22
    jump: str = ""
    auth: str = "key"
    identity_file: str = ""
    ssh_options: tuple[tuple[str, str], ...] = ()
    timeout: float = 30.0

    @property
    def target(self) -> str:
        return (
            f"{self.user}@{self.host}:{self.remote}" if self.user else f"{self.host}:{self.remote}"
        )


def settings_hash(settings: Mapping[str, Any]) -> str:
    """A short stable hash of a JSON-able mapping (key order does not matter)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sshfs_source(year: int, spec: Mapping[str, Any]) -> SshfsSource:
    mountpoint = spec.get("mountpoint") or str(DEFAULT_MOUNT_ROOT / f"{year % 100:02d}")
    options = spec.get("ssh_options") or {}
    return SshfsSource(
        host=spec["host"],
        remote=spec["remote"],
        mountpoint=Path(mountpoint),
        user=spec.get("user") or getpass.getuser(),
        port=int(spec.get("port", 22)),
        jump=spec.get("jump", ""),
        auth=spec.get("auth", "key"),
        identity_file=spec.get("identity_file", ""),
        ssh_options=tuple((str(k), str(v)) for k, v in options.items()),
        timeout=float(spec.get("timeout", 30)),
    )


# --------------------------------------------------------------------------- discovery


def code_hash(*modules: str) -> str:
    """Hash of the source files of ``pltanomaly`` modules or subpackages, named by their path
    in the package (``"channels/detect"``); missing ones count as absent."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for module in modules:
        folder = package / module
        paths = sorted(folder.glob("*.py")) if folder.is_dir() else [package / f"{module}.py"]
        digest.update(module.encode())
        for path in paths:
            digest.update(path.name.encode())
            digest.update(path.read_bytes() if path.is_file() else b"<absent>")
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- sshfs


@dataclass(frozen=True)
class MountInfo:
    mountpoint: Path
    source: str
    fstype: str


def _unescape(text: str) -> str:
    return (text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")).replace(
        "\\134", "\\"
    )


def mount_at(path: str | os.PathLike[str]) -> MountInfo | None:
    """The mount whose mountpoint is exactly ``path`` (from /proc/self/mountinfo)."""
    target = os.path.abspath(path)
    found = None
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 2:
            continue
        if _unescape(fields[4]) == target:
            found = MountInfo(Path(target), _unescape(rest[1]), rest[0])  # last one wins
    return found


def _listdir_with_timeout(path: Path, timeout: float) -> list[str]:
    """``os.listdir`` that gives up after ``timeout`` seconds (a dead sshfs mount hangs)."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["names"] = os.listdir(path)
        except OSError as exc:
            result["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise MountError(
            f"{path}: the mount does not answer (listing it hung for {timeout:.0f} s); "
            f"unmount it with 'fusermount -u {path}' and run again"
        )
    if "error" in result:
        raise result["error"]
    return result["names"]


def _check_reachable(host: str, port: int, timeout: float) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except socket.gaierror as exc:
        raise MountError(f"cannot resolve host {host!r} ({exc.strerror})") from exc
    except ConnectionRefusedError as exc:
        raise MountError(
            f"host {host} refuses connections on port {port} (nothing listens there: wrong "
            "port, or sshd is down)"
        ) from exc
    except TimeoutError as exc:
        raise MountError(
            f"host {host} is unreachable on port {port} (no answer in {timeout:.0f} s: "
            "firewall, VPN or wrong host?)"
        ) from exc
    except OSError as exc:
        raise MountError(f"host {host} is unreachable on port {port} ({exc})") from exc


def _jump_endpoint(jump: str) -> tuple[str, int]:
    hostport = jump.split(",")[0].rsplit("@", 1)[-1]
    host, _, port = hostport.partition(":")
    return host, int(port) if port.isdigit() else 22


def ssh_options(src: SshfsSource) -> list[str]:
    """The ssh ``-o`` options of a source: batch mode (never a password prompt), its
    authentication, keep-alives; the user's extra options come last (ssh keeps the first
    value of an option, so they cannot undo these)."""
    options = [
        "BatchMode=yes",
        "PasswordAuthentication=no",
        "KbdInteractiveAuthentication=no",
        f"ConnectTimeout={max(1, int(src.timeout))}",
        "ServerAliveInterval=15",
        "ServerAliveCountMax=3",
    ]
    if src.auth == "key":
        options += [
            f"IdentityFile={os.path.expanduser(src.identity_file)}",
            "IdentitiesOnly=yes",
            "PreferredAuthentications=publickey",
        ]
    else:
        options += [
            "GSSAPIAuthentication=yes",
            "GSSAPIDelegateCredentials=yes",
            "PreferredAuthentications=gssapi-with-mic",
        ]
    if src.jump:
        options.append(f"ProxyJump={src.jump}")
    return options + [f"{key}={value}" for key, value in src.ssh_options]


def sshfs_command(src: SshfsSource, mountpoint: str | os.PathLike[str] | None = None) -> list[str]:
    """The sshfs command line for ``src`` (read-only, reconnecting, batch mode)."""
    where = str(mountpoint if mountpoint is not None else src.mountpoint)
    command = ["sshfs", "-p", str(src.port), src.target, where]
    for option in ["ro", "reconnect", *ssh_options(src)]:
        command += ["-o", option]
    return command


def _ssh_diagnosis(src: SshfsSource) -> str:
    """What ssh itself says when it opens the sftp channel (sshfs hides ssh's messages)."""
    login = f"{src.user}@{src.host}" if src.user else src.host
    command = ["ssh", "-p", str(src.port), "-o", "LogLevel=ERROR"]
    for option in ssh_options(src):
        command += ["-o", option]
    command += ["-s", login, "sftp"]
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=src.timeout + 5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return result.stderr.strip()


def _explain_failure(src: SshfsSource, stderr: str) -> str:
    text = stderr.strip()
    lowered = text.lower()
    if "permission denied" in lowered:
        how = (
            f"the key {src.identity_file}"
            if src.auth == "key"
            else "your Kerberos ticket (is it forwardable and for the right realm?)"
        )
        hint = f"{src.host} refused {how} for user {src.user}"
        if src.auth == "key":
            hint += " (is its public key in ~/.ssh/authorized_keys there?)"
        return hint
    if "host key verification failed" in lowered:
        return (
            f"the host key of {src.host} is unknown or changed: connect once with ssh to "
            "accept it, or set ssh_options (UserKnownHostsFile, StrictHostKeyChecking)"
        )
    if "no such file" in lowered and "identity" not in lowered:
        return f"the remote folder {src.remote} does not exist on {src.host}"
    if "connection refused" in lowered:
        return f"{src.host} refused the connection on port {src.port}"
    if "could not resolve" in lowered or "name or service not known" in lowered:
        return f"cannot resolve host {src.host}"
    if "timed out" in lowered:
        return f"connection to {src.host} timed out"
    if "fuse" in lowered and ("permission" in lowered or "/dev/fuse" in lowered):
        return "FUSE is not usable here (no /dev/fuse or no permission to mount)"
    return "sshfs failed"


def ensure_mounted(src: SshfsSource) -> Path:
    """Mount ``src`` on its mountpoint unless it is mounted there already; check that the
    mount answers. Returns the mountpoint. Raises :class:`MountError` saying what is wrong
    (missing key, refused key, host unreachable, something else mounted there, ...)."""
    mountpoint = Path(os.path.abspath(src.mountpoint))
    current = mount_at(mountpoint)
    if current is not None:
        if current.fstype == "fuse.sshfs" and current.source == src.target:
            try:
                _listdir_with_timeout(mountpoint, src.timeout)
            except OSError as exc:
                raise MountError(
                    f"{mountpoint}: the sshfs mount of {src.target} is dead ({exc.strerror}); "
                    f"unmount it with 'fusermount -u {mountpoint}' and run again"
                ) from exc
            return mountpoint
        raise MountError(
            f"{mountpoint} is already mounted ({current.fstype} of {current.source}), not "
            f"{src.target}: unmount it ('fusermount -u {mountpoint}') or choose another "
            "mountpoint"
        )
    if shutil.which("sshfs") is None:
        raise MountError("sshfs is not installed (Debian/Ubuntu: apt-get install sshfs)")
    if not os.path.exists("/dev/fuse"):
        raise MountError("/dev/fuse is missing: FUSE mounts are not possible on this machine")
    if src.auth == "key":
        key = Path(os.path.expanduser(src.identity_file))
        if not key.is_file():
            raise MountError(f"the key file {key} for {src.target} does not exist")
        if not os.access(key, os.R_OK):
            raise MountError(f"the key file {key} is not readable")
        mode = key.stat().st_mode & 0o777
        if mode & 0o077:
            raise MountError(
                f"the key file {key} is readable by others (mode {mode:04o}); ssh ignores "
                f"such keys: chmod 600 {key}"
            )
    else:
        klist = shutil.which("klist")
        if klist is None:
            raise MountError("Kerberos authentication needs klist/kinit (krb5-user)")
        if subprocess.run([klist, "-s"], check=False).returncode != 0:
            raise MountError("no valid Kerberos ticket: run kinit (e.g. kinit you@CERN.CH)")
    host, port = _jump_endpoint(src.jump) if src.jump else (src.host, src.port)
    _check_reachable(host, port, min(src.timeout, 10.0))
    mountpoint.mkdir(parents=True, exist_ok=True)
    if any(mountpoint.iterdir()):
        raise MountError(f"the mountpoint {mountpoint} is not empty: use an empty folder")
    command = sshfs_command(src, mountpoint)
    # sshfs forks a daemon that keeps its stderr: a pipe would never reach end of file
    with tempfile.TemporaryFile(mode="w+") as errors:
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                timeout=src.timeout + 5,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            if mount_at(mountpoint) is not None:
                subprocess.run(["fusermount", "-u", "-z", str(mountpoint)], check=False)
            raise MountError(
                f"sshfs did not mount {src.target} within {src.timeout:.0f} s"
            ) from exc
        errors.seek(0)
        stderr = errors.read()
    if result.returncode != 0 or mount_at(mountpoint) is None:
        said = " ".join(part for part in (stderr.strip(), _ssh_diagnosis(src)) if part)
        detail = f": {said}" if said else ""
        raise MountError(
            f"cannot mount {src.target} on {mountpoint}: {_explain_failure(src, said)}"
            f" (sshfs exit {result.returncode}{detail})"
        )
    try:
        _listdir_with_timeout(mountpoint, src.timeout)
    except OSError as exc:
        unmount(mountpoint)
        raise MountError(
            f"mounted {src.target} on {mountpoint} but cannot list it ({exc.strerror})"
        ) from exc
    return mountpoint


def unmount(mountpoint: str | os.PathLike[str]) -> bool:
    """Unmount a FUSE mount; True when something was unmounted."""
    if mount_at(mountpoint) is None:
        return False
    tool = shutil.which("fusermount3") or shutil.which("fusermount") or "fusermount"
    result = subprocess.run(
        [tool, "-u", os.path.abspath(mountpoint)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise MountError(f"cannot unmount {mountpoint}: {result.stderr.strip()}")
    return True


def prepare_sources(years: Mapping[int, Any], *, mount: bool = True) -> list[str]:
    """Mount the sshfs sources of ``years`` (``year -> config`` with ``year`` and ``sshfs``
    attributes) when ``mount``; return messages for the log."""
    messages = []
    for year_cfg in years.values():
        if year_cfg.sshfs is None:
            continue
        if not mount:
            if mount_at(year_cfg.sshfs.mountpoint) is None:
                raise MountError(
                    f"year {year_cfg.year} reads {year_cfg.sshfs.target} through an sshfs "
                    f"mount on {year_cfg.sshfs.mountpoint}, which is not mounted here: "
                    "batch workers cannot see the submit host's mounts; use an EOS source "
                    "for batch runs, or run locally"
                )
            continue
        try:
            path = ensure_mounted(year_cfg.sshfs)
        except MountError as exc:
            raise MountError(f"year {year_cfg.year}: {exc}") from exc
        messages.append(f"year {year_cfg.year}: {year_cfg.sshfs.target} mounted on {path}")
    return messages


# --------------------------------------------------------------------------- command
