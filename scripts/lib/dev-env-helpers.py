#!/usr/bin/env python3
"""Small helpers of scripts/dev-env that bash does poorly.

  dev-env-helpers.py free-ports N   N distinct free TCP ports on 127.0.0.1, space-separated
  dev-env-helpers.py cluster-id     a new KRaft cluster id
"""
import base64
import random
import socket
import sys
import uuid


def free_ports(n: int) -> list[int]:
    """Ports come from 20000-29999, below Linux's ephemeral range (32768+), so outgoing
    connections do not grab them between now and the moment the servers bind. All sockets stay
    bound until every port is chosen, so the N ports differ."""
    held, ports = [], []
    for port in random.sample(range(20000, 30000), 400):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        held.append(s)
        ports.append(port)
        if len(ports) == n:
            break
    if len(ports) < n:
        sys.exit("no free ports found")
    return ports


def cluster_id() -> str:
    """Same as Kafka's `StorageTool random-uuid` (base64url of 16 random bytes, not starting with
    '-'), without paying for a JVM start."""
    while True:
        s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not s.startswith("-"):
            return s


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "free-ports":
        print(" ".join(map(str, free_ports(int(sys.argv[2])))))
    elif len(sys.argv) == 2 and sys.argv[1] == "cluster-id":
        print(cluster_id())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
