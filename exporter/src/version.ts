// The project's one version, package.json's: build.mjs writes it into the bundle; run from source, it is
// read from package.json.
import { readFileSync } from 'node:fs';

declare const AV_EXPORTER_BUILD_VERSION: string | undefined;

export const VERSION: string = typeof AV_EXPORTER_BUILD_VERSION === 'string' ? AV_EXPORTER_BUILD_VERSION : versionOfPackageJson();

function versionOfPackageJson(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}
