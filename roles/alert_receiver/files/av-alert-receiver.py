#!/usr/bin/python3
"""The stand's webhook receiver for Alertmanager: every notification it is sent (firing or resolved) is
appended as one JSON line to a file, and /metrics says how many it got. Standard library only.

    av-alert-receiver.py --listen 127.0.0.1:9095 --file /var/lib/av-alert-receiver/notifications.jsonl
"""
import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20  # Alertmanager's notifications are a few KiB


class Store:
    """The notifications file, and counts by status that survive restarts (read back from the file)."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.counts = {"firing": 0, "resolved": 0}
        self.alerts = {"firing": 0, "resolved": 0}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as lines:
                for line in lines:
                    try:
                        self._count(json.loads(line)["notification"])
                    except (ValueError, KeyError, TypeError):
                        pass  # a line cut short by a crash: not a notification

    def _count(self, notification):
        status = notification.get("status") if notification.get("status") in self.counts else "firing"
        self.counts[status] += 1
        for alert in notification.get("alerts", []):
            if alert.get("status") in self.alerts:
                self.alerts[alert["status"]] += 1

    def append(self, notification):
        line = json.dumps({"received_at": time.time(), "notification": notification}, separators=(",", ":"))
        with self.lock:
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(line + "\n")
                out.flush()
                os.fsync(out.fileno())
            self._count(notification)

    def metrics(self):
        with self.lock:
            rows = [
                "# HELP av_alert_receiver_notifications_total Notifications received from Alertmanager, by their status.",
                "# TYPE av_alert_receiver_notifications_total counter",
                *(f'av_alert_receiver_notifications_total{{status="{s}"}} {n}' for s, n in self.counts.items()),
                "# HELP av_alert_receiver_alerts_total Alerts in those notifications, by the alert's status.",
                "# TYPE av_alert_receiver_alerts_total counter",
                *(f'av_alert_receiver_alerts_total{{status="{s}"}} {n}' for s, n in self.alerts.items()),
            ]
        return "\n".join(rows) + "\n"


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
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                return self._answer(413 if length > MAX_BODY else 400, "a notification is a JSON body of at most 1 MiB\n")
            try:
                notification = json.loads(self.rfile.read(length))
                if not isinstance(notification, dict):
                    raise ValueError("not an object")
            except ValueError as error:
                return self._answer(400, f"not a JSON notification: {error}\n")
            store.append(notification)
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
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    store = Store(args.file)
    server = ThreadingHTTPServer((host.strip("[]"), int(port)), handler_for(store))
    print(f"av-alert-receiver: listening on {args.listen}, appending to {args.file}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
