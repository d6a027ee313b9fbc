# A callback for scripts/bench-playbook.mjs: the wall time of every task on every host, with its role and
# action, written as JSON lines to the file named by AV_TIMING_FILE. Enabled only by the benchmark
# (ANSIBLE_CALLBACKS_ENABLED=av_timing); without AV_TIMING_FILE it does nothing.
import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
name: av_timing
type: aggregate
short_description: each task's wall time per host, as JSON lines, for the playbook benchmark
description:
  - Writes one JSON line per finished task and host to the file named by the environment variable AV_TIMING_FILE.
requirements:
  - enabled in callbacks_enabled
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'av_timing'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get('AV_TIMING_FILE')
        self._started = {}

    def _start(self, task, host):
        self._started[(task._uuid, host)] = time.monotonic()

    def v2_runner_on_start(self, host, task):
        self._start(task, host.get_name())

    def _finish(self, result, status):
        if not self._path:
            return
        task, host = result._task, result._host.get_name()
        started = self._started.pop((task._uuid, host), None)
        if started is None:
            return
        role = task._role.get_name() if task._role else None
        line = {
            'host': host,
            'role': role,
            'task': task.get_name(),
            'action': task.action,
            'status': status,
            'seconds': round(time.monotonic() - started, 4),
        }
        with open(self._path, 'a', encoding='utf-8') as out:
            out.write(json.dumps(line) + '\n')

    def v2_runner_on_ok(self, result):
        self._finish(result, 'changed' if result._result.get('changed') else 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._finish(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._finish(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._finish(result, 'unreachable')
