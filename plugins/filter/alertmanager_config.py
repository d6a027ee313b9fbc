# Role alertmanager's config as data: the stand's own receivers and routes first, then the user's
# (alertmanager_receivers, _route, _inhibit_rules, _time_intervals, _smtp, _slack_api_url), each of the user's
# email, Slack and Telegram configs given the stand's messages (files/alertmanager-notifications.tmpl) and
# send_resolved unless it sets its own. templates/alertmanager.yml.j2 writes it with to_nice_yaml.

import re

CONFIGS = re.compile(r'[a-z]+_configs')
# the stand's message for each kind of config, by the names of files/alertmanager-notifications.tmpl
MESSAGES = {
    'email_configs': {'html': '{{ template "av_stand.email.html" . }}', 'text': '{{ template "av_stand.email.text" . }}'},
    'slack_configs': {
        'title': '{{ template "av_stand.slack.title" . }}', 'title_link': '{{ template "av_stand.alerts_url" . }}',
        'text': '{{ template "av_stand.slack.text" . }}', 'fallback': '{{ template "av_stand.title" . }}',
        'color': '{{ template "av_stand.slack.color" . }}',
    },
    'telegram_configs': {'message': '{{ template "av_stand.telegram.message" . }}', 'parse_mode': 'HTML'},
}
EMAIL_SUBJECT = {'Subject': '{{ template "av_stand.email.subject" . }}'}
DOWN = 'TargetDown|PrometheusDown'


def _combine(x, y, recursive=False):
    """Ansible's combine of two mappings, to the order of their keys (which the written YAML keeps): y's values
    over x's, nested mappings merged when `recursive`; equal mappings give y's order."""
    if x == {} or x == y:
        return dict(y)
    if y == {}:
        return x
    result = dict(x)
    for key, value in y.items():
        both = recursive and isinstance(result.get(key), dict) and isinstance(value, dict)
        result[key] = _combine(result[key], value, True) if both else value
    return result


def _with_message(kind, config):
    """One of the user's configs: theirs first, then what the stand adds (its message, send_resolved)."""
    defaults = {'send_resolved': True, **MESSAGES.get(kind, {})}
    # the subject is a header, which Alertmanager matches in any case
    if kind == 'email_configs' and 'subject' not in [name.lower() for name in config.get('headers', {})]:
        defaults = _combine(defaults, {'headers': EMAIL_SUBJECT})
    return _combine(config, _combine(defaults, config, recursive=True))


def _user_receiver(receiver):
    configs = {kind: [_with_message(kind, config) for config in configs]
               for kind, configs in receiver.items() if CONFIGS.fullmatch(kind)}
    return _combine(receiver, configs)


def alertmanager_config(settings, in_stand, heartbeat_receiver='', receiver_url='', heartbeat_interval='', templates_file=''):
    """The whole config. `settings`: the role's alertmanager_* values by their names without the prefix
    (receivers, route, inhibit_rules, time_intervals, smtp, slack_api_url, group_by, group_wait, group_interval,
    repeat_interval). In the stand, its receivers page, ticket and `heartbeat_receiver` post to `receiver_url`."""
    own = [{'name': name, 'webhook_configs': [{'url': receiver_url, 'send_resolved': True}]}
           for name in (['page', 'ticket', heartbeat_receiver] if in_stand else [])]
    receivers = own + [_user_receiver(receiver) for receiver in settings['receivers']]
    config = {}
    glob = {f'smtp_{key}': value for key, value in settings['smtp'].items()}
    if settings['slack_api_url']:
        glob['slack_api_url'] = settings['slack_api_url']
    if glob:
        config['global'] = glob
    if settings['receivers']:
        config['templates'] = [templates_file]
    grouping = {'group_by': settings['group_by'], 'group_wait': settings['group_wait'],
                'group_interval': settings['group_interval'], 'repeat_interval': settings['repeat_interval']}
    if not in_stand:
        # alone: your route and receivers only, with the grouping defaults; with none, a receiver that sends nothing
        config['route'] = _combine({'receiver': 'default', **grouping}, settings['route'])
        config['inhibit_rules'] = settings['inhibit_rules']
        config['receivers'] = receivers or [{'name': 'default'}]
    else:
        by_severity = [{'receiver': 'page', 'matchers': ['severity="critical"']},
                       {'receiver': 'ticket', 'matchers': ['severity="warning"']}]
        # with a tree of yours: the stand's record is a route that takes every alert and lets it go on to yours
        after_heartbeat = [{'receiver': 'ticket', 'continue': True, 'routes': by_severity}, settings['route']] if settings['route'] else by_severity
        heartbeat = {'receiver': heartbeat_receiver, 'matchers': ['alertname="Watchdog"'], 'group_by': ['prometheus'],
                     'group_wait': '0s', 'group_interval': '5s', 'repeat_interval': heartbeat_interval, 'continue': False}
        config['route'] = {'receiver': 'ticket', **grouping, 'routes': [heartbeat] + after_heartbeat}
        config['inhibit_rules'] = [
            {'source_matchers': [f'alertname=~"{DOWN}"'], 'target_matchers': [f'alertname!~"{DOWN}|Watchdog"'], 'equal': ['instance']},
            {'source_matchers': ['severity="critical"', 'slo=~".+"'], 'target_matchers': ['severity="warning"', 'slo=~".+"'],
             'equal': ['job', 'slo']},
        ] + settings['inhibit_rules']
        config['receivers'] = receivers
    if settings['time_intervals']:
        config['time_intervals'] = settings['time_intervals']
    return config




URL = re.compile(r'^https?://[^/\s?#]+(/\S*)?$')
HOST_PORT = re.compile(r'^\S+:[0-9]+$')
SMTP_KEYS = ['from', 'hello', 'smarthost', 'auth_username', 'auth_password', 'auth_password_file', 'auth_identity',
             'auth_secret', 'require_tls']
ROOT_ONLY = ['matchers', 'match', 'match_re', 'continue', 'mute_time_intervals', 'active_time_intervals']


def _is_url(value):
    return isinstance(value, str) and bool(URL.match(value))


def _receiver_errors(receiver, index, names, reserved, smtp, slack_api_url):
    """A receiver's mistakes; adds its name to `names`."""
    errors = []
    name = str(receiver['name']) if 'name' in receiver else ''
    if not name:
        errors.append(f'alertmanager_receivers[{index}] has no name')
    elif reserved.match(name):
        errors.append(f'receiver {name}: the names page, ticket and heartbeat-* are the stand\'s own receivers'
                      ' (av-alert-receiver on each host), give yours another name')
    elif name in names:
        errors.append(f'receiver {name} is given twice')
    names.append(name)
    for i, config in enumerate(receiver.get('email_configs') or []):
        where = f'receiver {name}, email_configs[{i}]'
        if not config.get('to'):
            errors.append(f'{where} has no `to`')
        for key in ['smarthost', 'from']:
            if key not in config and key not in smtp:
                errors.append(f'{where} has no {key}, and alertmanager_smtp gives none (set alertmanager_smtp.{key},'
                              ' or the config\'s own)')
        if 'smarthost' in config and not HOST_PORT.match(str(config['smarthost'])):
            errors.append(f'{where}: smarthost must be HOST:PORT')
    for i, config in enumerate(receiver.get('webhook_configs') or []):
        if 'url_file' not in config and not _is_url(str(config.get('url', ''))):
            errors.append(f'receiver {name}, webhook_configs[{i}]: url is not an http:// or https:// URL (nor is url_file given)')
    for i, config in enumerate(receiver.get('slack_configs') or []):
        where = f'receiver {name}, slack_configs[{i}]'
        if 'api_url' in config and not _is_url(str(config['api_url'])):
            errors.append(f'{where}: api_url is not an http:// or https:// URL')
        elif 'api_url' not in config and 'api_url_file' not in config and not slack_api_url:
            errors.append(f'{where} has no api_url (nor api_url_file), and alertmanager_slack_api_url is empty')
    for i, config in enumerate(receiver.get('telegram_configs') or []):
        where = f'receiver {name}, telegram_configs[{i}]'
        if not isinstance(config.get('chat_id'), int) or isinstance(config.get('chat_id'), bool):
            errors.append(f'{where}: chat_id must be the chat\'s number')
        if 'bot_token' not in config and 'bot_token_file' not in config:
            errors.append(f'{where} has no bot_token (nor bot_token_file)')
        if 'api_url' in config and not _is_url(str(config['api_url'])):
            errors.append(f'{where}: api_url is not an http:// or https:// URL')
    return errors


def _route_errors(node, names, reserved, intervals):
    """A route's mistakes, then its routes', depth first."""
    errors = []
    receiver = node.get('receiver')
    if receiver is not None and reserved.match(str(receiver)):
        errors.append(f'alertmanager_route names the receiver {receiver}, one of the stand\'s own (page, ticket, heartbeat-*),'
                      ' which already get a copy of every alert')
    elif receiver is not None and receiver not in names:
        errors.append(f'alertmanager_route names the receiver {receiver}, which is not one of alertmanager_receivers'
                      f' ({", ".join(names) or "none given"})')
    for interval in (node.get('mute_time_intervals') or []) + (node.get('active_time_intervals') or []):
        if interval not in intervals:
            errors.append(f'alertmanager_route names the time interval {interval}, which is not one of alertmanager_time_intervals')
    for child in node.get('routes') or []:
        if isinstance(child, dict):
            errors += _route_errors(child, names, reserved, intervals)
    return errors


def alertmanager_settings_errors(settings, reserved_receivers, external_url):
    """Each mistake in the user's receivers, route, inhibition rules, time intervals and SMTP settings as one
    sentence that names the setting and never a value (a URL or a password may be a secret). `settings` as
    alertmanager_config takes them; `reserved_receivers` the regex of the names the stand keeps for itself."""
    errors = []
    reserved = re.compile(reserved_receivers)
    lists = {name: settings[key] for name, key in [('alertmanager_receivers', 'receivers'),
                                                   ('alertmanager_inhibit_rules', 'inhibit_rules'),
                                                   ('alertmanager_time_intervals', 'time_intervals')]}
    for name, value in lists.items():
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            errors.append(f'{name} must be a list of mappings, as Alertmanager writes them')
    for name, key in [('alertmanager_route', 'route'), ('alertmanager_smtp', 'smtp')]:
        if not isinstance(settings[key], dict):
            errors.append(f'{name} must be a mapping')
    receivers = [r for r in settings['receivers'] if isinstance(r, dict)] if isinstance(settings['receivers'], list) else []
    route = settings['route'] if isinstance(settings['route'], dict) else {}
    smtp = settings['smtp'] if isinstance(settings['smtp'], dict) else {}
    intervals = [i.get('name') for i in settings['time_intervals'] if isinstance(i, dict)] if isinstance(settings['time_intervals'], list) else []
    unknown = [key for key in smtp if key not in SMTP_KEYS]
    if unknown:
        errors.append(f'alertmanager_smtp has keys Alertmanager does not know: {", ".join(unknown)} (known: {", ".join(SMTP_KEYS)})')
    if 'smarthost' in smtp and not HOST_PORT.match(str(smtp['smarthost'])):
        errors.append('alertmanager_smtp.smarthost must be HOST:PORT, such as smtp.example.org:587')
    slack_api_url = settings['slack_api_url']
    if slack_api_url and not _is_url(slack_api_url):
        errors.append('alertmanager_slack_api_url is not an http:// or https:// URL')
    if not _is_url(external_url):
        errors.append(f'alertmanager_web_external_url is not an http:// or https:// URL (got {external_url})')
    names = []
    for index, receiver in enumerate(receivers):
        errors += _receiver_errors(receiver, index, names, reserved, smtp, slack_api_url)
    if receivers and 'receiver' not in route:
        errors.append('alertmanager_route has no receiver: with alertmanager_receivers, it names the one that gets what none of its'
                      ' routes takes')
    for key in ROOT_ONLY:
        if key in route:
            errors.append(f'alertmanager_route is a root route and has no {key} (the stand gives it every alert but the Watchdogs):'
                          ' put it on a route under its routes')
    if route:
        errors += _route_errors(route, names, reserved, intervals)
    return errors


class FilterModule:
    def filters(self):
        return {'alertmanager_config': alertmanager_config, 'alertmanager_settings_errors': alertmanager_settings_errors}
