# Checks of the user's own jobs (prometheus_targets, prometheus_target_settings, prometheus_scrape_configs):
# each mistake one sentence that names the job, for the role's preflight; and the user's own rules as a file.
import re

JOB_NAME = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_.-]*$')
# host:port, a host being a name, an IPv4 address or an IPv6 address in brackets
TARGET = re.compile(r'^(\[[0-9a-fA-F:.]+\]|[^:\[\]/\s]+):([0-9]{1,5})$')
SETTINGS = {'scheme', 'metrics_path', 'scrape_interval', 'scrape_timeout', 'params', 'tls_config', 'basic_auth', 'honor_labels'}


def prometheus_user_job_errors(targets, settings, scrape_configs, stand_jobs):
    if not isinstance(targets, dict):
        return [f"prometheus_targets must map job names to lists of {{targets, labels}}, got {type(targets).__name__}"]
    if not isinstance(settings, dict):
        return [f"prometheus_target_settings must map job names to scrape settings, got {type(settings).__name__}"]
    if not isinstance(scrape_configs, list):
        return [f"prometheus_scrape_configs must be a list of scrape jobs, got {type(scrape_configs).__name__}"]
    errors = []
    own_configs = [c.get('job_name') if isinstance(c, dict) else None for c in scrape_configs]
    names = list(targets) + own_configs
    for name in names:
        if not isinstance(name, str) or not JOB_NAME.match(name):
            errors.append(f"job {name!r}: a job needs a plain name (letters, digits, _ . -)")
        elif name in stand_jobs and name in own_configs:
            # a job of prometheus_targets may share a stand job's name (it gets a scrape config of its own);
            # a whole scrape config may not: Prometheus wants every job_name once
            errors.append(f"job {name!r}: the stand has a scrape config of that name; name yours otherwise, or give its targets in prometheus_targets")
        elif names.count(name) > 1:
            errors.append(f"job {name!r}: named more than once in prometheus_targets and prometheus_scrape_configs")
    for job, entries in targets.items():
        if not isinstance(entries, list):
            errors.append(f"job {job!r}: a list of {{targets, labels}} entries is needed, got {entries!r}")
            continue
        for entry in entries:
            found = entry.get('targets') if isinstance(entry, dict) else None
            if not isinstance(found, list) or not found:
                errors.append(f"job {job!r}: an entry without a list of targets: {entry!r}")
                continue
            for target in found:
                match = TARGET.match(str(target))
                if not match:
                    errors.append(f"job {job!r}: target {target!r} is not host:port (a port is needed; an IPv6 address goes in [ ])")
                elif not 0 < int(match.group(2)) < 65536:
                    errors.append(f"job {job!r}: target {target!r} has no valid port")
            labels = entry.get('labels', {})
            if not isinstance(labels, dict):
                errors.append(f"job {job!r}: labels must be a mapping, got {labels!r}")
    for job, options in settings.items():
        if job not in targets:
            errors.append(f"job {job!r}: prometheus_target_settings names it, prometheus_targets does not")
        elif not isinstance(options, dict) or set(options) - SETTINGS:
            errors.append(f"job {job!r}: prometheus_target_settings takes only {sorted(SETTINGS)}")
    return errors


def prometheus_rules_file(rules, group):
    """A rule file of one group holding these rules, as Prometheus reads it. Marked unsafe: the rules' own
    templates ({{ $labels.instance }}) are Prometheus', and Ansible must not try to fill them in again."""
    import yaml  # here, so that the checks above load without Ansible (the tests call them from any python3)
    from ansible.parsing.yaml.dumper import AnsibleDumper
    from ansible.utils.unsafe_proxy import AnsibleUnsafeText
    text = yaml.dump({'groups': [{'name': group, 'rules': rules}]}, Dumper=AnsibleDumper, default_flow_style=False, sort_keys=False, indent=2)
    return AnsibleUnsafeText(text)


class FilterModule:
    def filters(self):
        return {'prometheus_user_job_errors': prometheus_user_job_errors, 'prometheus_rules_file': prometheus_rules_file}
