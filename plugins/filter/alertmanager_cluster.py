# The timing of an Alertmanager cluster. Each member waits its position times --cluster.peer-timeout before it
# sends, so that it finds the notification its predecessors sent in the gossiped log. A member that waits as
# long as a route's group_interval or longer drifts off its group's flushes: it then keeps deciding on a list of
# alerts that is up to a wait old, and an alert resolved during that wait reaches the receiver as FIRING again
# after its RESOLVED (prometheus/alertmanager#2447, #3551, #4008). So every route's group_interval must outlast
# the longest wait, (members - 1) * peer timeout.
import re

DURATION = re.compile(r'^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$')
UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def alertmanager_duration_seconds(text):
    """Seconds of a Prometheus duration (1h30m, 10s, 500ms), or None when it is not one."""
    match = DURATION.match(str(text))
    if not match or not any(match.groups()):
        return None
    return sum(int(part) * unit for part, unit in zip(match.groups(), UNITS) if part)


def _own_intervals(route, where):
    """(where, group_interval) of a route and of each route under it that sets its own."""
    if 'group_interval' in route:
        yield where, route['group_interval']
    for index, child in enumerate(route.get('routes') or []):
        if isinstance(child, dict):
            yield from _own_intervals(child, f"{where}.routes[{index}]")


def alertmanager_cluster_timing_errors(peer_timeout, members, group_interval, route):
    """Each mistake in the cluster's timing as one sentence: a peer timeout that is no duration, and every
    group_interval (alertmanager_group_interval, or a route's of alertmanager_route) that the last member's
    wait reaches."""
    wait_each = alertmanager_duration_seconds(peer_timeout)
    if wait_each is None or wait_each <= 0:
        return [f"alertmanager_cluster_peer_timeout must be a duration such as 3s or 500ms (got {peer_timeout!r})"]
    longest_wait = (int(members) - 1) * wait_each
    if longest_wait <= 0:
        return []
    errors = []
    routes = [('alertmanager_group_interval', group_interval)]
    if isinstance(route, dict):
        routes += list(_own_intervals(route, 'alertmanager_route'))
    for where, interval in routes:
        seconds = alertmanager_duration_seconds(interval)
        name = where if where == 'alertmanager_group_interval' else f"{where}.group_interval"
        if seconds is None:
            errors.append(f"{name} must be a duration such as 10s or 5m (got {interval!r})")
        elif seconds <= longest_wait:
            errors.append(
                f"{name} is {interval}, but the last of the cluster's {members} Alertmanagers waits {longest_wait:g} s"
                f" ({members} - 1 times alertmanager_cluster_peer_timeout, {peer_timeout}) before it sends: make the"
                f" interval longer, or the peer timeout shorter, else an alert resolved during that wait can be"
                f" notified as firing again")
    return errors


class FilterModule:
    def filters(self):
        return {'alertmanager_cluster_timing_errors': alertmanager_cluster_timing_errors}
