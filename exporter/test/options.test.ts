// Options: precedence of flags, environment and config file, and an error for each kind of bad input
// that names the option, where it came from and the value received.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OptionError, readOptions, type ExporterOptions } from '../src/options.js';

function run(argv: string[], env: NodeJS.ProcessEnv = {}): ExporterOptions {
  const result = readOptions(argv, env);
  assert.equal(result.kind, 'run');
  return (result as { options: ExporterOptions }).options;
}

describe('options', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'av-options-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('defaults', () => {
    const options = run(['--log-file', '/x.log']);
    assert.deepEqual(options.listen, { host: '0.0.0.0', port: 8000 });
    assert.equal(options.mode, 'exporter');
    assert.equal(options.demoListen, null);
    assert.equal(options.startAt, 'end');
    assert.equal(options.rotateWaitSeconds, 5);
    assert.deepEqual(options.presetMethods, ['GET', 'HEAD', 'POST']);
    assert.deepEqual(options.presetStatuses, [200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 429, 499, 500, 502, 503, 504]);
    assert.equal(options.logFormat, 'json');
    assert.equal(options.prefix, 'av');
    assert.equal(options.positionsFile, null);
    assert.equal(options.webConfig, null);
    assert.equal(options.buckets.length, 156);
  });

  test('flags win over the environment, which wins over the config file', async () => {
    const config = join(dir, 'precedence.yml');
    await writeFile(config, 'log_file: /from-config.log\nlisten: "127.0.0.1:7000"\nprefix: cfg\ndemo_listen: "off"\npreset_statuses: [200, 404]\n');
    const options = run(['--config', config, '--prefix', 'flag'], { AV_EXPORTER_LISTEN: '127.0.0.1:7001', AV_EXPORTER_PREFIX: 'env' });
    assert.equal(options.logFile, '/from-config.log');
    assert.deepEqual(options.listen, { host: '127.0.0.1', port: 7001 });
    assert.equal(options.prefix, 'flag');
    assert.equal(options.demoListen, null);
    assert.deepEqual(options.presetStatuses, [200, 404]);
  });

  test('the web config comes from --web-config, AV_EXPORTER_WEB_CONFIG or web_config, flags winning', async () => {
    const config = join(dir, 'web.yml');
    await writeFile(config, 'log_file: /x.log\nweb_config: /from-config/web.yml\n');
    assert.equal(run(['--config', config]).webConfig, '/from-config/web.yml');
    assert.equal(run(['--config', config], { AV_EXPORTER_WEB_CONFIG: '/from-env/web.yml' }).webConfig, '/from-env/web.yml');
    assert.equal(run(['--config', config, '--web-config', 'web.yml'], { AV_EXPORTER_WEB_CONFIG: '/from-env/web.yml' }).webConfig, 'web.yml');
  });

  test('the demo service is its own mode, without a log file', () => {
    const options = run(['--mode', 'demo', '--demo-listen', '127.0.0.1:8001']);
    assert.equal(options.mode, 'demo');
    assert.deepEqual(options.demoListen, { host: '127.0.0.1', port: 8001 });
  });

  test('none turns the preset series off', () => {
    const options = run(['--log-file', 'x', '--preset-statuses', 'none', '--preset-methods', 'none']);
    assert.deepEqual([options.presetStatuses, options.presetMethods], [[], []]);
  });

  test('a config file lists buckets as YAML', async () => {
    const config = join(dir, 'buckets.yml');
    await writeFile(config, 'log_file: /x.log\nbuckets: [0.1, 0.5, 1]\n');
    assert.deepEqual(run(['--config', config]).buckets, [0.1, 0.5, 1]);
  });

  const errors: Array<[string, string[], NodeJS.ProcessEnv, RegExp]> = [
    ['an unknown flag', ['--log-file', 'x', '--nope'], {}, /Unknown option '--nope'/],
    ['a bad --listen', ['--log-file', 'x', '--listen', 'localhost'], {}, /^--listen: expected HOST:PORT \(port 1-65535\), got "localhost"$/],
    ['a port out of range', ['--log-file', 'x', '--listen', 'h:70000'], {}, /^--listen: expected HOST:PORT \(port 1-65535\), got "h:70000"$/],
    ['a bad --log-format', ['--log-file', 'x', '--log-format', 'apache'], {}, /^--log-format: expected json or timed-combined, got "apache"$/],
    ['buckets not increasing', ['--log-file', 'x', '--buckets', '0.5,0.1'], {}, /^--buckets: bounds must increase strictly \(0\.5 then 0\.1\), got "0\.5,0\.1"$/],
    ['a negative bucket', ['--log-file', 'x', '--buckets=-1,2'], {}, /^--buckets: bound -1 is not a positive finite number/],
    ['a bad value in the environment names the variable', ['--log-file', 'x'], { AV_EXPORTER_DEMO_ERROR_RATE: '2' }, /^AV_EXPORTER_DEMO_ERROR_RATE: expected a number from 0 to 1, got "2"$/],
    ['error rates above 1 together', ['--log-file', 'x', '--demo-error-rate', '0.6', '--demo-unavailable-rate', '0.6'], {}, /^demo error rate 0\.6 \+ unavailable rate 0\.6 exceed 1$/],
    ['no log file', [], {}, /^--log-file is required/],
    ['a bad prefix', ['--log-file', 'x', '--prefix', '9x'], {}, /^--prefix: expected a metric name prefix/],
    ['the demo service inside the exporter', ['--log-file', 'x', '--demo-listen', '0.0.0.0:9'], {}, /^--demo-listen is for --mode demo: the demo service runs as its own process/],
    ['demo mode without an address', ['--mode', 'demo'], {}, /^--mode demo needs --demo-listen HOST:PORT/],
    ['a bad mode', ['--mode', 'both'], {}, /^--mode: expected exporter or demo, got "both"$/],
    ['an empty --web-config', ['--log-file', 'x', '--web-config', ''], {}, /^--web-config: expected a non-empty string, got ""$/],
    ['a web config for the demo service', ['--mode', 'demo', '--demo-listen', '127.0.0.1:8001', '--web-config', 'web.yml'], {}, /^--web-config is for the exporter's \/metrics listener: the demo service stays plain HTTP/],
    ['a bad --start-at', ['--log-file', 'x', '--start-at', 'middle'], {}, /^--start-at: expected end or beginning, got "middle"$/],
    ['a status out of range', ['--log-file', 'x', '--preset-statuses', '200,600'], {}, /^--preset-statuses: expected HTTP statuses \(100-599\), got "600" in "200,600"$/],
    ['an empty status', ['--log-file', 'x', '--preset-statuses', '200,,404'], {}, /^--preset-statuses: expected HTTP statuses \(100-599\), comma-separated, or none, got "200,,404"$/],
    ['an unknown method', ['--log-file', 'x', '--preset-methods', 'GET,get'], {}, /^--preset-methods: expected methods among GET, .* OTHER, got "get" in "GET,get"$/],
    ['a negative rotate wait', ['--log-file', 'x', '--rotate-wait-seconds=-1'], {}, /^--rotate-wait-seconds: expected a number from 0 to 3600, got "-1"$/],
  ];
  for (const [name, argv, env, message] of errors) {
    test(`rejects ${name}`, () => assert.throws(() => readOptions(argv, env), (error: Error) => error instanceof OptionError && message.test(error.message)));
  }

  test('rejects an unknown config key, listing the known ones', async () => {
    const config = join(dir, 'typo.yml');
    await writeFile(config, 'log_file: /x.log\nlog_fromat: json\n');
    assert.throws(() => readOptions(['--config', config], {}), /config file .*typo\.yml: unknown key "log_fromat" \(known: mode, log_file, log_format,/);
  });

  test('rejects a config file that is not a mapping', async () => {
    const config = join(dir, 'list.yml');
    await writeFile(config, '- log_file\n');
    assert.throws(() => readOptions(['--config', config], {}), /config file .*list\.yml: expected a mapping of option names to values/);
  });

  test('names the key and file of a bad config value', async () => {
    const config = join(dir, 'bad.yml');
    await writeFile(config, 'log_file: /x.log\nmax_line_bytes: 1000.5\n');
    assert.throws(() => readOptions(['--config', config], {}), /max_line_bytes in .*bad\.yml: expected a whole number, got 1000\.5$/);
  });

  test('a missing config file is an error, not an empty config', () => {
    assert.throws(() => readOptions(['--config', join(dir, 'none.yml')], {}), /config file .*none\.yml: ENOENT/);
  });
});
