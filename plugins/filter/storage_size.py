# Storage bounds sized to the disk: the filesystem that holds a path, from the host's facts (ansible_mounts),
# and a share of it as bytes, or in Prometheus' unit syntax. Plain Python (no Ansible import), so that the
# tests call it from any python3.
import math

MIB = 1 << 20


class StorageSizeError(ValueError):
    pass


def _error(message):
    # Ansible's own error when loaded by Ansible (its message is shown as is), a ValueError in the tests
    try:
        from ansible.errors import AnsibleFilterError
    except ImportError:
        return StorageSizeError(message)
    return AnsibleFilterError(message)


def _holds(mount, path):
    """Whether the mount point `mount` is `path` or one of its parent directories (by whole names)."""
    mount = mount.rstrip('/') or '/'
    return mount == '/' or path == mount or path.startswith(mount + '/')


def stand_mount_size(mounts, path):
    """The size in bytes of the filesystem that holds `path`: of the mounts in `mounts` (ansible_mounts:
    {mount, size_total}), the one with the longest mount point that is `path` or a parent of it; of two
    at the same point, the last (mounted over the first). The path need not exist yet."""
    if not isinstance(path, str) or not path.startswith('/'):
        raise _error(f"the storage path must be absolute, got {path!r}")
    path = path.rstrip('/') or '/'
    best = None
    for entry in mounts or []:
        if not isinstance(entry, dict) or not isinstance(entry.get('mount'), str):
            continue
        if _holds(entry['mount'], path) and (best is None or len(entry['mount'].rstrip('/')) >= len(best['mount'].rstrip('/'))):
            best = entry
    if best is None:
        raise _error(f"no filesystem in the host's facts (ansible_mounts) holds {path}")
    size = best.get('size_total')
    if not isinstance(size, (int, float)) or size <= 0:
        raise _error(f"the filesystem at {best['mount']}, which holds {path}, has no size in the host's facts (size_total: {size!r})")
    return int(size)


def stand_mount_share(mounts, path, share):
    """`share` (0 < share < 1) of the filesystem that holds `path`, in whole bytes (rounded down)."""
    share = float(share)
    if not 0 < share < 1:
        raise _error(f"a share of a filesystem is between 0 and 1 (both excluded), got {share}")
    return int(math.floor(stand_mount_size(mounts, path) * share))


def prometheus_size(size):
    """Bytes as Prometheus' size flags write them: whole MB (Prometheus' MB is 2^20 bytes), rounded down,
    at least 1MB, so that it never reads as "0", no bound."""
    size = int(size)
    if size <= 0:
        raise _error(f"a size is a positive number of bytes, got {size}")
    return f"{max(1, size // MIB)}MB"


class FilterModule:
    def filters(self):
        return {'stand_mount_size': stand_mount_size, 'stand_mount_share': stand_mount_share, 'prometheus_size': prometheus_size}
