# Ansible's free strategy, over Mitogen when it is installed: see _av_mitogen.py. site.yml's play of each
# host's own services names it, on an ansible-core older than 2.19.
from __future__ import annotations

import importlib.util
import os

from ansible.plugins.strategy.free import StrategyModule as _Plain

# plugin directories are not on sys.path: the shared module is loaded from beside this file
_spec = importlib.util.spec_from_file_location('av_mitogen', os.path.join(os.path.dirname(__file__), '_av_mitogen.py'))
_av_mitogen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_av_mitogen)

StrategyModule = _av_mitogen.over_mitogen(_Plain)
