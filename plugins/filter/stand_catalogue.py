# The stand's catalogue of services (stand_services, role stand's defaults), asked what the roles ask of it
# before the stand is resolved: which kinds of host is this one, which services run on it, and whether the
# catalogue is sound. Which hosts run a service is the resolved stand's answer (stand_model.py), which the
# scripts and the tests read as JSON (ansible/model.yml).

import re

KINDS = ('prometheus', 'nginx', 'victoriametrics')
ADDRESS = re.compile(r'^[0-9.]+(/[0-9]+)?$|^[0-9a-fA-F:]*:[0-9a-fA-F:.]*(/[0-9]+)?$')
LOCAL = re.compile(r'^(127\.|fe80:|::1$)')
TLS = ('web_config', 'own_flags', 'mutual', 'none')
CLIENTS = ('scrapers', 'allow_list', 'peers', 'anyone', 'loopback')


def stand_kinds(group_names, stand_groups):
    """The kinds of host (keys of stand_groups) whose group holds a host with these group_names."""
    return [kind for kind, group in stand_groups.items() if group in group_names]


def stand_services_on(services, kinds):
    """The services that run on a host of these kinds, in catalogue order."""
    return [service for service in services if set(service.get('kinds', [])) & set(kinds)]


def stand_service_ports(services, host_vars):
    """'name:port' for each service with a port (this host's value of its port variable) or a loopback
    listen address (host:port)."""
    found = []
    for service in services:
        if 'port' in service:
            found.append(f"{service['name']}:{int(host_vars[service['port']])}")
        elif 'listen' in service:
            found.append(f"{service['name']}:{int(str(host_vars[service['listen']]).rsplit(':', 1)[1])}")
    return found


def stand_host_addresses(hosts, hostvars):
    """Every address these hosts may come from: ansible_host when it is an address, and the addresses
    their facts list (a host may reach another from any of them); loopback and link-local left out."""
    found = []
    for host in hosts:
        own = hostvars[host]
        given = str(own.get('ansible_host', ''))
        facts = own.get('ansible_facts', {}) or {}
        for address in ([given] if stand_is_address(given) else []) + list(facts.get('all_ipv4_addresses', [])) + list(facts.get('all_ipv6_addresses', [])):
            if not LOCAL.match(address) and address not in found:
                found.append(address)
    return found


def stand_is_address(text):
    """Whether this is an IPv4 or IPv6 address (or network, with a /prefix), not a name."""
    return bool(ADDRESS.match(str(text)))


def stand_host_port(host, port=None):
    """'host:port' as an address or URL writes it, an IPv6 address in brackets ('[2001:db8::1]:9090'); the host
    alone (bracketed the same way) when no port is given."""
    host = str(host)
    if ':' in host:
        host = f"[{host}]"
    return host if port is None else f"{host}:{port}"


def stand_catalogue_errors(services, stand_groups):
    """What is wrong with the catalogue, one sentence an entry; empty when it is sound."""
    errors = []
    unknown_kinds = sorted(set(stand_groups) - set(KINDS))
    if unknown_kinds:
        errors.append(f"stand_groups: unknown kinds {unknown_kinds}; the kinds are {list(KINDS)}")
    seen_names, seen_jobs = set(), set()
    for index, service in enumerate(services):
        if not isinstance(service, dict):
            errors.append(f"entry {index}: not a mapping: {service!r}")
            continue
        name = service.get('name')
        where = f"service {name!r}" if name else f"entry {index}"
        if not name or not isinstance(name, str):
            errors.append(f"{where}: no name")
        elif name in seen_names:
            errors.append(f"{where}: the name is used twice")
        seen_names.add(name)
        kinds = service.get('kinds')
        if not isinstance(kinds, list) or not kinds or any(kind not in KINDS for kind in kinds):
            errors.append(f"{where}: kinds must list kinds of host among {list(KINDS)}, got {kinds!r}")
        if not service.get('unit'):
            errors.append(f"{where}: no systemd unit")
        if 'port' in service and 'listen' in service:
            errors.append(f"{where}: port and listen both given; a service has one or the other")
        if service.get('tls', 'none') not in TLS:
            errors.append(f"{where}: tls must be one of {list(TLS)}, got {service.get('tls')!r}")
        if ('port' in service or 'listen' in service) and service.get('clients') not in CLIENTS:
            errors.append(f"{where}: clients must be one of {list(CLIENTS)}, got {service.get('clients')!r}")
        if 'listen' in service and service.get('clients') != 'loopback':
            errors.append(f"{where}: a listen address is for loopback services (clients: loopback)")
        scrape = service.get('scrape')
        if scrape is not None:
            job = scrape.get('job') if isinstance(scrape, dict) else None
            if not job or 'port' not in service:
                errors.append(f"{where}: a scrape needs a job name and the service a port")
            elif job in seen_jobs:
                errors.append(f"{where}: the scrape job {job!r} is used twice")
            seen_jobs.add(job)
    return errors


def stand_scrape_jobs(services):
    """The names of the stand's own scrape jobs, probes included (a user's job may not take one)."""
    return [s['scrape']['job'] for s in services if isinstance(s.get('scrape'), dict)] + ['blackbox_http', 'blackbox_tls']


class FilterModule:
    def filters(self):
        return {
            'stand_kinds': stand_kinds,
            'stand_services_on': stand_services_on,
            'stand_service_ports': stand_service_ports,
            'stand_catalogue_errors': stand_catalogue_errors,
            'stand_scrape_jobs': stand_scrape_jobs,
            'stand_host_addresses': stand_host_addresses,
            'stand_host_port': stand_host_port,
            'stand_is_address': stand_is_address,
        }
