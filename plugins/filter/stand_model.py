# The resolved stand, computed once from the catalogue and the inventory: each host's address, kinds and
# services with their ports (the host's own value of each port variable), the Prometheus hosts grouped into
# shards (stand_prometheus_replicas consecutive hosts each, its replicas), and from that, each shard's scrape
# configuration. The templates write its parts; nothing else re-derives it.
import copy
import hashlib
import re

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # loaded by its path from a python3 without Ansible, as the tests may
    AnsibleFilterError = ValueError

try:  # as a plugin of the collection av.stand (how Ansible loads it, from a clone too)
    from ansible_collections.av.stand.plugins.filter.stand_catalogue import KINDS, stand_host_addresses, stand_host_port, stand_is_address
except ImportError:  # loaded by its path, as the tests call a filter
    import os
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from stand_catalogue import KINDS, stand_host_addresses, stand_host_port, stand_is_address

PROBE_JOBS = ('blackbox_http', 'blackbox_tls')

# Which roles make a host of each kind, in the order a host of several kinds runs them; every host also gets
# the node exporter first and its firewall table last. site.yml and the render harness both read this.
ROLES_BY_KIND = (
    ('nginx', ('nginx', 'nginx_exporter', 'av_exporter')),
    ('victoriametrics', ('victoriametrics', 'vmalert')),
    ('prometheus', ('alert_receiver', 'alertmanager', 'blackbox_exporter', 'prometheus')),
)


# Roles that install no package of their own (the rest have tasks/packages.yml, for site.yml's one apt
# transaction per host: tasks/host-packages.yml).
ROLES_WITHOUT_PACKAGES = ('alert_receiver',)


def stand_host_roles(kinds):
    """The roles of a host of these kinds, in the order they run."""
    return ['node_exporter'] + [role for kind, roles in ROLES_BY_KIND if kind in kinds for role in roles] + ['nftables_firewall']


def stand_package_roles(roles):
    """Of these roles, those that install packages of their own."""
    return [role for role in roles if role not in ROLES_WITHOUT_PACKAGES]


def stand_value_names(services):
    """The names of the variables that hold the services' ports and listen addresses, each once."""
    names = []
    for service in services:
        for key in ('port', 'listen'):
            if key in service and service[key] not in names:
                names.append(service[key])
    return names


def _host_value(hostvars, host, name, own_values):
    """A host's own value of a variable: its inventory's (hostvars), else this play's (own_values), where the
    stand's defaults (role stand) and the inventory's values for this host are."""
    values = hostvars[host]
    if name in values:
        return values[name]
    if name in own_values:
        return own_values[name]
    raise AnsibleFilterError(f"host {host}: no value for {name}")


def stand_replica_errors(replicas, prometheus_hosts):
    """What is wrong with stand_prometheus_replicas for these Prometheus hosts: [] or the message that names
    the numbers. A whole number, 1 or more, that divides the number of hosts."""
    number = '' if isinstance(replicas, bool) else str(replicas).strip()
    if not re.fullmatch(r'[1-9][0-9]*', number):
        return [f"stand_prometheus_replicas must be a whole number, 1 or more (got {replicas!r})"]
    if len(prometheus_hosts) % int(number):
        return [f"stand_prometheus_replicas is {number}, which does not divide the {len(prometheus_hosts)} Prometheus hosts "
                f"({', '.join(prometheus_hosts)}): each shard is {number} consecutive hosts of them"]
    return []


def _shards(prometheus_hosts, hostvars, own_values):
    """The Prometheus hosts as shards of stand_prometheus_replicas consecutive hosts each, in inventory order:
    ([{name: its first host, hosts}], replicas). Every Prometheus host must have the same value."""
    values = {host: _host_value(hostvars, host, 'stand_prometheus_replicas', own_values) for host in prometheus_hosts}
    if len({str(value) for value in values.values()}) > 1:
        raise AnsibleFilterError("stand_prometheus_replicas differs between the Prometheus hosts ("
                                 + ', '.join(f"{host}: {value}" for host, value in values.items()) + "): set it once, for all of them")
    replicas = next(iter(values.values()), 1)
    errors = stand_replica_errors(replicas, prometheus_hosts)
    if errors:
        raise AnsibleFilterError(errors[0])
    replicas = int(replicas)
    groups = [prometheus_hosts[start:start + replicas] for start in range(0, len(prometheus_hosts), replicas)]
    return [{'name': hosts[0], 'hosts': hosts} for hosts in groups], replicas


def stand_model(services, groups, stand_groups, hostvars, own_values):
    """The resolved stand:
    {hosts: {name: {address, kinds, services: [{name, unit, port?, listen?, tls, clients?, scrape?, probe?, tls_front?}]}},
     kinds: {kind: [host]}, shards: [{name, hosts}], replicas, services: [name]}; hosts in inventory order, each
    once, services in the catalogue's order, a scrape with its defaults (scheme https, path /metrics). A shard is
    named after its first host, and its hosts (its replicas) scrape the same targets."""
    kinds = {kind: [] for kind in KINDS}
    for kind, group in stand_groups.items():
        for host in groups.get(group, []):
            if host not in kinds[kind]:
                kinds[kind].append(host)
    hosts = {}
    for kind in KINDS:
        for host in kinds[kind]:
            if host in hosts:
                continue
            host_kinds = [k for k in KINDS if host in kinds[k]]
            resolved = []
            for service in services:
                if not set(service.get('kinds', [])) & set(host_kinds):
                    continue
                entry = {key: service[key] for key in ('name', 'unit', 'clients', 'scrape', 'probe', 'tls_front') if key in service}
                if isinstance(entry.get('scrape'), dict):
                    entry['scrape'] = {'scheme': 'https', 'path': '/metrics', **entry['scrape']}
                entry['tls'] = service.get('tls', 'none')
                if 'port' in service:
                    entry['port'] = int(_host_value(hostvars, host, service['port'], own_values))
                if 'listen' in service:
                    entry['listen'] = str(_host_value(hostvars, host, service['listen'], own_values))
                resolved.append(entry)
            hosts[host] = {'address': str(hostvars[host].get('ansible_host', host)), 'kinds': host_kinds, 'services': resolved}
    shards, replicas = _shards(kinds['prometheus'], hostvars, own_values)
    return {'hosts': hosts, 'kinds': kinds, 'shards': shards, 'replicas': replicas, 'services': [s['name'] for s in services]}


def _endpoint(model, host, service_name):
    """host:port of a service on a host, as an address or URL writes it."""
    for service in model['hosts'][host]['services']:
        if service['name'] == service_name and 'port' in service:
            return stand_host_port(model['hosts'][host]['address'], service['port'])
    raise AnsibleFilterError(f"host {host} runs no {service_name} with a port")


def _serves_https(service):
    """Whether a service (of the model, with its port) speaks HTTPS with the stand's user on its port, which the
    blackbox exporter probes for its certificate: not plain HTTP, not Alertmanager's mutual-TLS gossip."""
    return 'port' in service and service['tls'] not in ('none', 'mutual')


def _hosts_of(model, service_name):
    return [host for host, facts in model['hosts'].items() if any(s['name'] == service_name for s in facts['services'])]


def stand_shard_of(model, this_host):
    """A Prometheus host's shard: {name, index, count, hosts: its replicas}; alone (no stand), itself."""
    for index, shard in enumerate(model['shards']):
        if this_host in shard['hosts']:
            return {**shard, 'index': index, 'count': len(model['shards'])}
    return {'name': this_host, 'hosts': [this_host], 'index': 0, 'count': 1}


class _Shard:
    """One Prometheus host's share of the stand, which every replica of its shard scrapes alike: the shard's
    own hosts, and the targets whose host hashes to its index."""

    def __init__(self, model, this_host):
        self.model = model
        shard = stand_shard_of(model, this_host)
        self.hosts = shard['hosts']
        self.count = len(model['shards'])
        self.index = shard['index']
        self.sharded = self.count > 1

    def scraped_hosts(self, service_name, every_shard):
        """The hosts this shard scrapes a service on: all of them for an every_shard service (Prometheus,
        Alertmanager: a live one sees a dead one), else its own hosts and every host that is not a Prometheus host."""
        hosts = _hosts_of(self.model, service_name)
        if every_shard:
            return hosts
        return [h for h in self.hosts if h in hosts] + [h for h in hosts if h not in self.model['kinds']['prometheus']]

    def keeps(self, host):
        """Whether this shard keeps a target of this host, as its relabelling has Prometheus decide: one of its
        own hosts, or one whose name hashes to its index (hashmod: the MD5's last 8 bytes, modulo the shard count)."""
        digest = hashlib.md5(str(host).encode()).digest()
        return not self.sharded or host in self.hosts or int.from_bytes(digest[8:], 'big') % self.count == self.index

    def relabelling(self, source):
        """Keep this shard's hashmod share of the targets, by their host (source); its own hosts always."""
        if not self.sharded:
            return []
        return [
            {'source_labels': [source], 'modulus': self.count, 'target_label': '__tmp_shard', 'action': 'hashmod'},
            {'source_labels': [source], 'regex': '|'.join(re.escape(host) for host in self.hosts), 'target_label': '__tmp_shard',
             'replacement': str(self.index)},
            {'source_labels': ['__tmp_shard'], 'regex': str(self.index), 'action': 'keep'},
        ]


def stand_scrape_configs(model, this_host, client):
    """The stand's own scrape configs for this Prometheus host: one job per catalogue service with a scrape,
    one static_config per host (instance: its inventory name), then the blackbox probes of the sites and of
    every HTTPS port's certificate, through this host's blackbox exporter."""
    shard = _Shard(model, this_host)
    jobs = []
    found = {}
    for facts in model['hosts'].values():
        for service in facts['services']:
            found.setdefault(service['name'], service)
    services = {name: found[name] for name in model['services'] if name in found}
    for name, service in services.items():
        scrape = service.get('scrape')
        if not isinstance(scrape, dict):
            continue
        every_shard = scrape.get('every_shard', False)
        hosts = shard.scraped_hosts(name, every_shard)
        if not hosts:
            continue
        job = {'job_name': scrape['job'], 'scheme': scrape.get('scheme', 'https')}
        if scrape.get('path', '/metrics') != '/metrics':
            job['metrics_path'] = scrape['path']
        if job['scheme'] == 'https':
            job.update(copy.deepcopy(client))
        job['static_configs'] = [{'targets': [_endpoint(model, host, name)], 'labels': {'instance': host, '__tmp_host': host}} for host in hosts]
        if not every_shard and shard.sharded:
            job['relabel_configs'] = shard.relabelling('__tmp_host')
        jobs.append(job)
    probes = {job: [] for job in PROBE_JOBS}
    for name, service in services.items():
        if 'port' not in service:
            continue
        for host in shard.scraped_hosts(name, False):
            labels = {'host': host, 'service': name, '__tmp_host': host}
            endpoint = _endpoint(model, host, name)
            if 'probe' in service:
                probes['blackbox_http'].append({'targets': [f"http://{endpoint}/"], 'labels': {**labels, '__param_module': service['probe']}})
            if _serves_https(service):
                probes['blackbox_tls'].append({'targets': [endpoint], 'labels': {**labels, '__param_module': 'tls_connect'}})
    for job, static_configs in probes.items():
        if static_configs:
            relabel = [
                {'source_labels': ['__address__'], 'target_label': '__param_target'},
                {'source_labels': ['__param_target'], 'target_label': 'instance'},
                {'target_label': '__address__', 'replacement': _endpoint(model, this_host, 'blackbox_exporter')},
            ] + shard.relabelling('__tmp_host')
            jobs.append({'job_name': job, 'scheme': 'https', 'metrics_path': '/probe', **copy.deepcopy(client),
                         'static_configs': static_configs, 'relabel_configs': relabel})
    return jobs


def stand_shard_targets(model):
    """{host: [target]}: what each Prometheus host scrapes of the stand (its shard's share: every replica of a
    shard the same), read off its own scrape configs as Prometheus keeps them: 'job/instance' for a scrape job,
    'job/host/service' for a blackbox probe."""
    targets = {}
    for this_host in model['kinds']['prometheus']:
        shard = _Shard(model, this_host)
        kept = []
        for job in stand_scrape_configs(model, this_host, {}):
            dealt = any(rule.get('action') == 'hashmod' for rule in job.get('relabel_configs', []))
            for static_config in job['static_configs']:
                labels = static_config['labels']
                if dealt and not shard.keeps(labels['__tmp_host']):
                    continue
                kept.append(f"{job['job_name']}/{labels['host']}/{labels['service']}" if job['job_name'] in PROBE_JOBS
                            else f"{job['job_name']}/{labels['instance']}")
        targets[this_host] = kept
    return targets


def _services_of(model, host):
    return model['hosts'].get(host, {}).get('services', [])


def stand_service_hosts_of(model, service_name):
    """The hosts that run a service, in the model's order."""
    return _hosts_of(model, service_name)


def stand_tls_units(model, host):
    """The units on a host that serve TLS with its key (role tls_auth's drop-ins): its services whose tls is not
    none, then the fronts that serve TLS for them, each once."""
    serving = [service for service in _services_of(model, host) if service['tls'] != 'none']
    return list(dict.fromkeys([service['unit'] for service in serving] + [service['tls_front'] for service in serving if 'tls_front' in service]))


def stand_guarded_ports(model, host, clients):
    """A host's ports of the services whose clients are `clients` (scrapers, allow_list), each once."""
    return list(dict.fromkeys(service['port'] for service in _services_of(model, host) if service.get('clients') == clients and 'port' in service))


def stand_peer_guards(model, host, hostvars):
    """Each `peers` service on a host (Alertmanager's cluster): its port there, and the addresses of the other
    hosts that run it, which alone may connect."""
    return [{'name': service['name'], 'port': service['port'],
             'addresses': stand_host_addresses([peer for peer in _hosts_of(model, service['name']) if peer != host], hostvars)}
            for service in _services_of(model, host) if service.get('clients') == 'peers' and 'port' in service]


def stand_cluster_addresses(model, service_name, hostvars, port):
    """{host: address:port} of every host that runs a service whose instances gossip (Alertmanager): its
    address when that is an IP address, else the default IPv4 address its facts found (memberlist advertises
    IP addresses only)."""
    addresses = {}
    for host in _hosts_of(model, service_name):
        given = model['hosts'][host]['address']
        address = given if stand_is_address(given) else hostvars[host]['ansible_facts']['default_ipv4']['address']
        addresses[host] = stand_host_port(address, port)
    return addresses


def stand_resolved(model, stand_groups, services, host_values):
    """The resolved stand as the scripts and the e2e checks read it (ansible/model.yml writes it as JSON): the
    model, each host with its roles, its own values (host_values: {host: {name: value}} for every host of the
    inventory, the inventory's over role stand's defaults) and whether each service speaks HTTPS on its port;
    the groups of the kinds, the catalogue, each shard's targets and every host of the inventory."""
    hosts = {}
    for name, facts in model['hosts'].items():
        resolved = [{**service, 'https': _serves_https(service)} for service in facts['services']]
        hosts[name] = {**facts, 'name': name, 'roles': stand_host_roles(facts['kinds']), 'services': resolved, 'vars': host_values.get(name, {})}
    return {**model, 'hosts': hosts, 'groups': dict(stand_groups), 'catalogue': list(services), 'targets': stand_shard_targets(model),
            'inventory_hosts': list(host_values)}


def prometheus_user_jobs(targets, target_settings, scrape_configs, file_sd_dir, stand_jobs, model, this_host):
    """Your own scrape configs: a file_sd job per job of prometheus_targets (one named like a stand job, such as
    node, is scraped in a config of its own, '<job> (prometheus_targets)', whose targets still get that job
    label, and never with the stand's credentials), then prometheus_scrape_configs; with several shards each
    is dealt by hashmod of the target's address."""
    shard = _Shard(model, this_host) if this_host in model['kinds']['prometheus'] else None
    jobs = []
    for job in targets:
        config = {'job_name': job if job not in stand_jobs else f"{job} (prometheus_targets)"}
        config.update(copy.deepcopy(target_settings.get(job, {})))
        config['file_sd_configs'] = [{'files': [f"{file_sd_dir}/{job}.yml"]}]
        if job in stand_jobs:
            config['relabel_configs'] = [{'target_label': 'job', 'replacement': job}]
        jobs.append(config)
    jobs += copy.deepcopy(list(scrape_configs))
    if shard and shard.sharded:
        for config in jobs:
            config['relabel_configs'] = config.get('relabel_configs', []) + shard.relabelling('__address__')
    return jobs


def stand_alertmanagers(model):
    """host:port of every Alertmanager: every Prometheus sends every alert to all of them (one cluster)."""
    return [_endpoint(model, host, 'alertmanager') for host in _hosts_of(model, 'alertmanager')]


def stand_remote_writes(model, client):
    """A remote_write to each VictoriaMetrics host, over HTTPS with the stand's CA and user. With replicas, the
    `replica` label is dropped on the way (Prometheus adds the external labels before write_relabel_configs),
    so that the replicas of a shard write the same series, which VictoriaMetrics deduplicates."""
    drop = {'write_relabel_configs': [{'action': 'labeldrop', 'regex': 'replica'}]} if model.get('replicas', 1) > 1 else {}
    return [{'url': f"https://{_endpoint(model, host, 'victoriametrics')}/api/v1/write", 'name': host, **copy.deepcopy(client), **drop}
            for host in model['kinds']['victoriametrics']]


class FilterModule:
    def filters(self):
        return {
            'stand_value_names': stand_value_names,
            'stand_host_roles': stand_host_roles,
            'stand_package_roles': stand_package_roles,
            'stand_model': stand_model,
            'stand_scrape_configs': stand_scrape_configs,
            'stand_shard_targets': stand_shard_targets,
            'stand_resolved': stand_resolved,
            'prometheus_user_jobs': prometheus_user_jobs,
            'stand_alertmanagers': stand_alertmanagers,
            'stand_remote_writes': stand_remote_writes,
            'stand_replica_errors': stand_replica_errors,
            'stand_shard_of': stand_shard_of,
            'stand_service_hosts_of': stand_service_hosts_of,
            'stand_tls_units': stand_tls_units,
            'stand_guarded_ports': stand_guarded_ports,
            'stand_peer_guards': stand_peer_guards,
            'stand_cluster_addresses': stand_cluster_addresses,
        }
