"""Hosts of their own on this machine: Linux network namespaces on a bridge (iproute2, root).

`Network()` makes a bridge in this (the root) namespace at 10.231.N.1/24, where the test's
own services listen (the database proxies, S3, the webhook receiver); each `add_host()` is a
namespace with its own loopback and a veth into the bridge at 10.231.N.2, .3, ... A process
started with `Host.popen` sees only that network: it reaches the services at `gateway` and
nothing on 127.0.0.1 but its own. Only private addresses of this machine are ever used.

Names carry this process's id, so runs at once do not meet, and a run that was killed leaves
names that the next run recognises (their process is gone) and removes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import IO

PREFIX = "sendai"
_OURS = re.compile(rf"^{PREFIX}-(\d+)-[a-z]+$")


def ip(*args: str, check: bool = True) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def usable() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    try:
        ip("netns", "list")
    except (OSError, RuntimeError) as exc:
        return f"no usable `ip netns` ({exc})"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers() -> None:
    """Namespaces and bridges of earlier runs whose process is gone (a run killed mid-test)."""
    for line in ip("netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        found = _OURS.match(name)
        if found and not _alive(int(found[1])):
            _kill_namespace(name)
            ip("netns", "delete", name, check=False)
    for line in ip("-o", "link", "show", "type", "bridge").splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        found = re.fullmatch(r"sdb(\d+)", name)
        if found and not _alive(int(found[1])):
            ip("link", "delete", name, check=False)


def _namespace_pids(namespace: str) -> list[int]:
    return [int(pid) for pid in ip("netns", "pids", namespace, check=False).split()]


def _kill_namespace(namespace: str, deadline: float = 10.0) -> None:
    """SIGKILL every process in the namespace, again until none is left (one being forked
    while we look is caught by the next round)."""
    end = time.monotonic() + deadline
    while pids := _namespace_pids(namespace):
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > end:
            raise RuntimeError(f"processes left in {namespace}: {pids}")
        time.sleep(0.05)


class Host:
    def __init__(self, namespace: str, address: str, gateway: str) -> None:
        self.namespace = namespace
        self.address = address
        self.gateway = gateway

    def popen(self, argv: Sequence[str], *, env: dict[str, str], cwd: Path,
              log: IO[str]) -> subprocess.Popen[str]:
        """argv in this host's namespace (`ip netns exec` execs it: the Popen's pid is its)."""
        return subprocess.Popen(["ip", "netns", "exec", self.namespace, *argv], env=env,
                                cwd=cwd, stdout=log, stderr=subprocess.STDOUT, text=True)

    def pids(self) -> list[int]:
        return _namespace_pids(self.namespace)

    def kill_everything(self) -> None:
        """A crash: every process of this host SIGKILLed at once, none warned."""
        _kill_namespace(self.namespace)


class Network:
    def __init__(self) -> None:
        remove_leftovers()
        self.id = os.getpid()
        self.bridge = f"sdb{self.id}"
        self.hosts: list[Host] = []
        used = ip("-4", "route", "show")
        subnet = next(n for n in range(20, 250) if f"10.231.{n}." not in used)
        self.prefix = f"10.231.{subnet}"
        self.gateway = f"{self.prefix}.1"
        try:
            ip("link", "add", self.bridge, "type", "bridge")
            ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
        except Exception:
            self.close()
            raise

    def add_host(self, name: str) -> Host:
        namespace = f"{PREFIX}-{self.id}-{name}"
        address = f"{self.prefix}.{len(self.hosts) + 2}"
        outside, inside = f"sd{self.id}{name}0", f"sd{self.id}{name}1"
        ip("netns", "add", namespace)
        host = Host(namespace, address, self.gateway)
        self.hosts.append(host)
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        ip("link", "set", inside, "netns", namespace)
        ip("link", "set", outside, "master", self.bridge, "up")
        inns = ("netns", "exec", namespace, "ip")
        ip(*inns, "link", "set", "lo", "up")
        ip(*inns, "addr", "add", f"{address}/24", "dev", inside)
        ip(*inns, "link", "set", inside, "up")
        return host

    def close(self) -> None:
        """Every process of every host killed, the namespaces (and their veths) and the bridge
        deleted; safe to call twice, and after a half-made network."""
        for host in self.hosts:
            with suppress(RuntimeError):
                host.kill_everything()
            ip("netns", "delete", host.namespace, check=False)
        self.hosts = []
        ip("link", "delete", self.bridge, check=False)
