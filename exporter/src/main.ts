// av-exporter: follows nginx's access log and exposes request counts and latency histograms.
import { isBcryptWorker } from './bcrypt-workers.js';
import { logError, logWarning } from './log.js';
import { OptionError, readOptions, type CommandLine } from './options.js';
import { VERSION } from './version.js';
import { describeWeb, loadWebConfig, webConfigWarnings, type WebConfig } from './web-config.js';

async function main(): Promise<number | null> {
  let commandLine: CommandLine;
  let web: WebConfig | null = null;
  try {
    commandLine = readOptions(process.argv.slice(2), process.env);
    if (commandLine.kind === 'run' && commandLine.options.webConfig) web = loadWebConfig(commandLine.options.webConfig);
  } catch (error) {
    if (!(error instanceof OptionError)) throw error;
    logError(error.message);
    return 2;
  }
  if (commandLine.kind === 'help') {
    process.stdout.write(`${commandLine.text}\n`);
    return 0;
  }
  if (commandLine.kind === 'version') {
    process.stdout.write(`av-exporter ${VERSION}\n`);
    return 0;
  }
  const { options } = commandLine;
  if (options.checkConfig) {
    const what = options.mode === 'demo'
      ? `demo service on ${options.demoListen?.host}:${options.demoListen?.port}`
      : `following ${options.logFile} (${options.logFormat}), metrics on ${options.listen.host}:${options.listen.port}${web ? ` (${describeWeb(web)})` : ''}`;
    for (const warning of web ? webConfigWarnings(web) : []) logWarning(warning);
    process.stdout.write(`av-exporter: options OK: ${what}\n`);
    return 0;
  }
  if (options.mode === 'demo') {
    await (await import('./demo-daemon.js')).runDemo(options);
    return null;
  }
  // loaded on demand: --one-shot then starts without evaluating express and prom-client
  if (options.oneShot) return (await import('./one-shot.js')).runOneShot(options);
  await (await import('./daemon.js')).runDaemon(options, web);
  return null; // keeps running until a signal
}

// A bcrypt worker thread runs this same file; it answers password checks (bcrypt-workers.ts) instead.
if (!isBcryptWorker()) {
  main().then(
    (code) => {
      if (code !== null) process.exitCode = code;
    },
    (error: Error) => {
      logError(error.message);
      process.exit(1);
    },
  );
}
