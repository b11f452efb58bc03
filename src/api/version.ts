// /version: what kubectl version prints as the server version. We serve the v1.32 API surface.
export const KUBERNETES_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0' }

export function versionInfo(): Record<string, string> {
  return {
    major: KUBERNETES_VERSION.major,
    minor: KUBERNETES_VERSION.minor,
    gitVersion: `${KUBERNETES_VERSION.gitVersion}+edge-apiserver`,
    gitCommit: 'unknown',
    gitTreeState: 'clean',
    buildDate: '2026-11-26T00:00:00Z',
    goVersion: 'n/a',
    compiler: 'edge-apiserver',
    platform: 'workerd/js',
  }
}
