# Shared by av_linear.py and av_free.py (a name with a leading underscore is not a strategy itself).
#
# Mitogen keeps one Python interpreter per host for the whole run instead of starting one per task, and a
# task is then a message to it: a converged site.yml takes about half the time (npm run bench:playbook).
# Debian 12 ships it made for its ansible-core 2.14 (ansible-mitogen 0.3.3), and prereqs.sh installs it there.
# Without it, with an ansible-core it refuses, or with AV_STAND_MITOGEN=0, the plain strategy over SSH does
# the same work. ansible-core 2.19 (Debian 13) deprecates every strategy not its own, Mitogen's included: there
# site.yml names Ansible's own and this is never loaded.
from __future__ import annotations

import os

from ansible.errors import AnsibleError


def over_mitogen(plain):
    """The strategy class `plain`, run over Mitogen when Mitogen can; `plain` itself otherwise."""
    if os.environ.get('AV_STAND_MITOGEN', '1') == '0':
        return plain
    try:
        # importing ansible_mitogen.loaders raises AnsibleError for an ansible-core this Mitogen was not made for
        import ansible_mitogen.loaders  # noqa: F401
        import ansible_mitogen.strategy
    except (ImportError, AnsibleError):
        return plain
    return type(f'Mitogen{plain.__name__}', (ansible_mitogen.strategy.StrategyMixin, plain), {})

