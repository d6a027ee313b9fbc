#!/usr/bin/python3
"""The stand's webhook receiver for Alertmanager: every notification it is sent (firing or resolved) is
appended as one JSON line to a file, and /metrics says how many it got. Standard library only.

It is also the stand's dead man's switch. Each Prometheus (and vmalert) fires an always-on `Watchdog`
alert labelled prometheus="<its host>", which Alertmanager repeats to /alerts. Those heartbeats are not
written to the file; they are remembered by source. A source in --heartbeat-from (or any other source
once heard) that stays silent longer than --heartbeat-late-after, or whose Watchdog Alertmanager
resolves, is reported once per outage: a DeadMansSwitch notification line of the receiver's own in the
file, a line on stdout (the journal), and the metrics. A resolved DeadMansSwitch line follows when its
heartbeats return. After a start the silence is counted from the start: a restart gives every source the
whole bound again (an outage already reported in the file stays open, and is not reported again).

    av-alert-receiver.py --listen 127.0.0.1:9095 --file /var/lib/av-alert-receiver/notifications.jsonl \\
        --heartbeat-from prom1,prom2,vm1 --heartbeat-late-after 45s
"""
import argparse
import json
import os
import re
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20  # Alertmanager's notifications are a few KiB
WATCHDOG = "Watchdog"
SWITCH = "DeadMansSwitch"
RECEIVER = "av-alert-receiver"  # the receiver named in the notifications it writes itself
UNKNOWN = "unknown"  # the source of a Watchdog without a prometheus label, or past MAX_SOURCES
MAX_SOURCES = 100  # sources tracked at the most; a Watchdog from yet another one is keyed UNKNOWN
RUNBOOK = "docs/runbooks.md#deadmansswitch"
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(text):
    """Seconds from a number ("45", "2.5") or a Prometheus duration ("45s", "1m30s", "500ms")."""
    text = text.strip()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        value = float(text)
    elif re.fullmatch(r"([0-9]+(ms|[smhdwy]))+", text):
        value = sum(int(n) * UNITS[unit] for n, unit in re.findall(r"([0-9]+)(ms|[smhdwy])", text))
    else:
        raise argparse.ArgumentTypeError(f"not a number of seconds or a duration such as 45s or 1m30s: {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 s")
    return value


def iso(at):
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def label_value(value):
    """A label value as the text exposition format quotes it."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def alerts_of(notification):
    """The alerts of a notification that are objects (what is not is left in the line, and not counted)."""
    alerts = notification.get("alerts")
    return [alert for alert in alerts if isinstance(alert, dict)] if isinstance(alerts, list) else []


def labels_of(alert):
    labels = alert.get("labels")
    return labels if isinstance(labels, dict) else {}


def switch_notification(status, source, summary, starts_at, ends_at=None):
    """A DeadMansSwitch notification in Alertmanager's webhook shape, so that readers of the file need
    nothing new: a firing one when a source falls silent, a resolved one (the same startsAt) when it is back."""
    labels = {"alertname": SWITCH, "prometheus": source, "severity": "critical"}
    annotations = {"summary": summary, "runbook_url": RUNBOOK}
    return {
        "receiver": RECEIVER,
        "status": status,
        "alerts": [{
            "status": status, "labels": labels, "annotations": annotations, "startsAt": iso(starts_at),
            "endsAt": iso(ends_at) if ends_at is not None else "0001-01-01T00:00:00Z", "generatorURL": "",
        }],
        "groupLabels": {"alertname": SWITCH, "prometheus": source},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{SWITCH}", prometheus="{label_value(source)}"}}',
    }


class Source:
    """What the receiver knows of one Watchdog source since it started."""

    def __init__(self, since):
        self.since = since  # monotonic time silence is counted from: the start, then the last heartbeat
        self.last_seen = 0.0  # unix time of its last heartbeat; 0 before the first one
        self.heartbeats = 0
        self.outage = None  # the unix time its open DeadMansSwitch started, while one is open


class Store:
    """The notifications file, counts by status that survive restarts (read back from the file), and the
    heartbeats. One lock guards all of it: the handlers' threads and the checker's."""

    def __init__(self, path, expected=(), late_after=45.0):
        self.path = path
        self.lock = threading.Lock()
        self.counts = {"firing": 0, "resolved": 0}
        self.alerts = {"firing": 0, "resolved": 0}
        self.switches = {"firing": 0, "resolved": 0}
        self.late_after = late_after
        start = time.monotonic()
        self.sources = {name: Source(start) for name in expected}
        open_outages = {}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as lines:
                for line in lines:
                    try:
                        notification = json.loads(line)["notification"]
                        self._count(notification)
                    except (ValueError, KeyError, TypeError, AttributeError):
                        continue  # a line cut short by a crash: not a notification
                    for status, source, starts_at in self._switch_alerts(notification):
                        if status == "firing":
                            open_outages[source] = starts_at
                        else:
                            open_outages.pop(source, None)
        # an outage reported before the restart stays open (late, and not reported again) for a source
        # still watched; its resolved line comes when it is heard
        for name, starts_at in open_outages.items():
            if name in self.sources:
                self.sources[name].outage = starts_at

    @staticmethod
    def _switch_alerts(notification):
        """(status, source, startsAt as unix time) of the DeadMansSwitch alerts this receiver wrote."""
        if notification.get("receiver") != RECEIVER:
            return []
        found = []
        for alert in alerts_of(notification):
            labels = labels_of(alert)
            if labels.get("alertname") == SWITCH and alert.get("status") in ("firing", "resolved"):
                try:
                    starts_at = datetime.fromisoformat(str(alert.get("startsAt")).replace("Z", "+00:00")).timestamp()
                except ValueError:
                    starts_at = time.time()
                found.append((alert["status"], str(labels.get("prometheus", UNKNOWN)), starts_at))
        return found

    def _count(self, notification):
        status = notification.get("status")
        self.counts[status if status in ("firing", "resolved") else "firing"] += 1
        for alert in alerts_of(notification):
            if alert.get("status") in ("firing", "resolved"):
                self.alerts[alert["status"]] += 1
        for status, _, _ in self._switch_alerts(notification):
            self.switches[status] += 1

    def _write(self, notification, received_at):
        """Appends one line and counts it; the caller holds the lock."""
        line = json.dumps({"received_at": received_at, "notification": notification}, separators=(",", ":"))
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())
        self._count(notification)

    def receive(self, notification):
        """A notification from Alertmanager. One whose alerts are all Watchdogs is a heartbeat: remembered,
        not written. Any other is written whole, as it came (a Watchdog within it still counts as heard).
        Says whether it was a heartbeat."""
        alerts = alerts_of(notification)
        watchdogs = [alert for alert in alerts if labels_of(alert).get("alertname") == WATCHDOG]
        heartbeat_only = bool(watchdogs) and len(watchdogs) == len(notification["alerts"])
        with self.lock:
            now, wall = time.monotonic(), time.time()
            for alert in watchdogs:
                self._heard(alert, now, wall)
            if not heartbeat_only:
                self._write(notification, wall)
        return heartbeat_only

    def _heard(self, alert, now, wall):
        name = labels_of(alert).get("prometheus")
        name = name if isinstance(name, str) and name else UNKNOWN
        if name not in self.sources and len(self.sources) >= MAX_SOURCES:
            name = UNKNOWN
        source = self.sources.setdefault(name, Source(now))
        if alert.get("status") == "resolved":
            # Alertmanager resolves a Watchdog once no Prometheus has sent it for a while: its source is
            # gone. Reported at once, not after the bound.
            if source.outage is None:
                self._report(name, source, wall, f"the Watchdog from {name} was resolved by Alertmanager: "
                                                 "its Prometheus stopped sending it")
            return
        silent = now - source.since
        source.since, source.last_seen = now, wall
        source.heartbeats += 1
        if source.outage is not None:
            self._write(switch_notification("resolved", name, f"the Watchdog from {name} is heard again, after {silent:.0f} s",
                                            source.outage, wall), wall)
            source.outage = None
            print(f"{RECEIVER}: {SWITCH} resolved for {name}: its Watchdog is heard again", flush=True)

    def _report(self, name, source, wall, summary):
        self._write(switch_notification("firing", name, summary, wall), wall)
        source.outage = wall  # once written: a line that could not be is tried again at the next tick
        print(f"{RECEIVER}: {SWITCH} firing for {name}: {summary}", flush=True)

    def check(self):
        """Reports each source silent past the bound, once per outage (the checker calls it every tick)."""
        with self.lock:
            now, wall = time.monotonic(), time.time()
            for name, source in self.sources.items():
                silent = now - source.since
                if source.outage is None and silent > self.late_after:
                    since = " since the receiver started" if source.heartbeats == 0 else ""
                    self._report(name, source, wall, f"no Watchdog from {name} for {silent:.0f} s{since}: "
                                                     "its Prometheus or the alerting path from it is dead")

    def metrics(self):
        def by_source(name, kind, help_text, value):
            return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}",
                    *(f'{name}{{prometheus="{label_value(s)}"}} {value(source)}' for s, source in sorted(self.sources.items()))]

        with self.lock:
            rows = [
                "# HELP av_alert_receiver_notifications_total Notifications received from Alertmanager, by their status.",
                "# TYPE av_alert_receiver_notifications_total counter",
                *(f'av_alert_receiver_notifications_total{{status="{s}"}} {n}' for s, n in self.counts.items()),
                "# HELP av_alert_receiver_alerts_total Alerts in those notifications, by the alert's status.",
                "# TYPE av_alert_receiver_alerts_total counter",
                *(f'av_alert_receiver_alerts_total{{status="{s}"}} {n}' for s, n in self.alerts.items()),
                *by_source("av_alert_receiver_watchdog_last_seen_timestamp_seconds", "gauge",
                           "When the last Watchdog (heartbeat) from each source arrived, unix time; 0 if none since the start.",
                           lambda source: f"{source.last_seen:.3f}" if source.last_seen else "0"),
                *by_source("av_alert_receiver_heartbeats_total", "counter",
                           "Firing Watchdog alerts received from each source since the start.",
                           lambda source: source.heartbeats),
                *by_source("av_alert_receiver_heartbeat_late", "gauge",
                           "1 while a DeadMansSwitch is open for the source (silent past the bound, or its Watchdog resolved).",
                           lambda source: int(source.outage is not None)),
                "# HELP av_alert_receiver_dead_mans_switch_notifications_total DeadMansSwitch notifications this receiver wrote, by status.",
                "# TYPE av_alert_receiver_dead_mans_switch_notifications_total counter",
                *(f'av_alert_receiver_dead_mans_switch_notifications_total{{status="{s}"}} {n}' for s, n in self.switches.items()),
                "# HELP av_alert_receiver_heartbeat_late_after_seconds How long a source may be silent before it is reported.",
                "# TYPE av_alert_receiver_heartbeat_late_after_seconds gauge",
                f"av_alert_receiver_heartbeat_late_after_seconds {self.late_after:g}",
            ]
        return "\n".join(rows) + "\n"


def checker(store, tick):
    while True:
        time.sleep(tick)
        try:
            store.check()
        except OSError as error:  # the file cannot be written (a full disk): said, and tried again
            print(f"{RECEIVER}: cannot write a {SWITCH} notification: {error}", flush=True)


def handler_for(store):
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status, text, content_type="text/plain; charset=utf-8"):
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            if self.path != "/alerts":
                return self._answer(404, "POST notifications to /alerts\n")
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            if not 0 < length <= MAX_BODY:
                return self._answer(413 if length > MAX_BODY else 400, "a notification is a JSON body of at most 1 MiB\n")
            try:
                notification = json.loads(self.rfile.read(length))
                if not isinstance(notification, dict):
                    raise ValueError("not an object")
            except ValueError as error:
                return self._answer(400, f"not a JSON notification: {error}\n")
            store.receive(notification)
            return self._answer(200, "ok\n")

        def do_GET(self):
            if self.path == "/metrics":
                return self._answer(200, store.metrics(), "text/plain; version=0.0.4; charset=utf-8")
            return self._answer(404, "GET /metrics; POST /alerts\n")

        def log_message(self, format, *args):  # one line per request is noise in the journal
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:9095", help="HOST:PORT")
    parser.add_argument("--file", required=True, help="where notifications are appended, one JSON line each")
    parser.add_argument("--heartbeat-from", default="", metavar="NAME,NAME",
                        help="the sources (prometheus label of their Watchdog) expected to send heartbeats, comma-separated")
    parser.add_argument("--heartbeat-late-after", type=seconds, default=45.0, metavar="SECONDS",
                        help="how long a source may be silent before it is reported: seconds, or a duration (45s, 1m30s); default 45")
    args = parser.parse_args()
    expected = [name for name in (part.strip() for part in args.heartbeat_from.split(",")) if name]
    host, _, port = args.listen.rpartition(":")
    store = Store(args.file, expected, args.heartbeat_late_after)
    server = ThreadingHTTPServer((host.strip("[]"), int(port)), handler_for(store))
    threading.Thread(target=checker, args=(store, min(1.0, args.heartbeat_late_after / 4)), daemon=True).start()
    print(f"{RECEIVER}: listening on {args.listen}, appending to {args.file}; expecting a Watchdog from "
          f"{', '.join(expected) or 'no source'}, each reported when silent for {args.heartbeat_late_after:g} s", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
