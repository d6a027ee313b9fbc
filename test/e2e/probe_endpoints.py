#!/usr/bin/python3
"""Run on a host the firewall lets through (a Prometheus host), as root: probes each endpoint of the stand
and prints one JSON object per endpoint. Argument: base64 of a JSON list of
{"name", "host" (inventory name), "address", "port", "path"}. Reads the stand's CA and password from
where the tls_auth role put them. For each endpoint:
  plain      what a plain-HTTP request gets (an HTTP status line, or the connection's error)
  anonymous  the HTTPS status without credentials
  wrong      ... with a wrong password
  right      ... with the stand's user and password, once more after a 429's Retry-After (av-exporter
             pauses an address for a second after a wrong password, unless it has seen the right one since
             it started: right after a restart, before Prometheus' first scrape, the probe's own wrong one does)
  names      whether the certificate verifies against the CA for the host's inventory name, and for its address
  served     the SHA-256 fingerprint of the certificate it serves
"""
import base64, hashlib, json, socket, ssl, sys, time, urllib.error, urllib.request

CA_FILE = "/etc/av-stand/tls/ca.crt"
USER = sys.argv[2] if len(sys.argv) > 2 else "admin"
PASSWORD = open("/etc/av-stand/admin.password", encoding="utf-8").read().strip()


def plain(address, port, path):
    try:
        with socket.create_connection((address, port), timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n".encode())
            first = sock.recv(200).split(b"\r\n")[0].decode("latin-1")
            return first or "closed without an answer"
    except OSError as error:
        return f"error: {error}"


def https_status(url, user, password, honour_retry_after=False):
    context = ssl.create_default_context(cafile=CA_FILE)
    headers = {} if user is None else {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10, context=context) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        retry_after = error.headers.get("Retry-After", "")
        if error.code == 429 and honour_retry_after and retry_after.isdigit():
            time.sleep(min(int(retry_after), 5) + 0.1)
            return https_status(url, user, password)
        return error.code
    except (urllib.error.URLError, OSError) as error:
        return f"error: {getattr(error, 'reason', error)}"


def fingerprint(address, port):
    context = ssl.create_default_context(cafile=CA_FILE)
    context.check_hostname = False  # only which certificate it is; verify_for checks the names
    with socket.create_connection((address, port), timeout=5) as sock:
        with context.wrap_socket(sock) as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def verifies_for(address, port, name):
    context = ssl.create_default_context(cafile=CA_FILE)
    try:
        with socket.create_connection((address, port), timeout=5) as sock:
            with context.wrap_socket(sock, server_hostname=name):
                return True
    except (ssl.SSLError, ssl.CertificateError, OSError) as error:
        return f"no: {error}"


for endpoint in json.loads(base64.b64decode(sys.argv[1])):
    address, port, path = endpoint["address"], endpoint["port"], endpoint["path"]
    url_host = f"[{address}]" if ":" in address else address
    url = f"https://{url_host}:{port}{path}"
    print(json.dumps({
        "name": endpoint["name"],
        "plain": plain(address, port, path),
        "anonymous": https_status(url, None, None),
        "wrong": https_status(url, USER, PASSWORD + "-wrong"),
        "right": https_status(url, USER, PASSWORD, honour_retry_after=True),
        "names": {"host": verifies_for(address, port, endpoint["host"]), "address": verifies_for(address, port, address)},
        "served": fingerprint(address, port),
    }))
