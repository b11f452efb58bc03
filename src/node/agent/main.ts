// edge-apiserver-agent: the node agent's command line (`npm run agent -- --server URL --token T`).
// Credentials as kubectl takes them: --token, or --client-certificate/--client-key, or a --kubeconfig
// (a kubelet's own kubeconfig works: its server, CA and client certificate).
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { parse as parseYAML } from 'yaml'
import { startAgent, type AgentOptions } from './agent'

const USAGE = `Usage: edge-apiserver-agent --server URL (--token T | --client-certificate F --client-key F | --kubeconfig F)
  [--node-name NAME] [--certificate-authority F] [--insecure-skip-tls-verify]
  [--kubelet-url https://127.0.0.1:10250] [--kubelet-client-certificate F --kubelet-client-key F]
  [--kubelet-certificate-authority F]

Dials out to the API server as system:node:<node name> and carries the server's kubelet streams (logs,
exec, attach, port-forward, proxy) to the local kubelet. --node-name defaults to the host name, as the
kubelet's does.`

type Obj = Record<string, any>

/** The current context's cluster and user of a kubeconfig, file paths resolved against it. */
function fromKubeconfig(path: string): Partial<AgentOptions> {
  const cfg = parseYAML(readFileSync(path, 'utf8')) as Obj
  const ctxName = cfg['current-context']
  const ctx = (cfg.contexts ?? []).find((c: Obj) => c.name === ctxName)?.context ?? {}
  const cluster = (cfg.clusters ?? []).find((c: Obj) => c.name === ctx.cluster)?.cluster ?? {}
  const user = (cfg.users ?? []).find((u: Obj) => u.name === ctx.user)?.user ?? {}
  const base = dirname(path)
  const data = (inline: string | undefined, file: string | undefined) =>
    inline
      ? Buffer.from(inline, 'base64').toString('utf8')
      : file
        ? readFileSync(resolve(base, file), 'utf8')
        : undefined
  return {
    server: cluster.server,
    serverCAPem: data(cluster['certificate-authority-data'], cluster['certificate-authority']),
    insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
    token:
      user.token ??
      (user.tokenFile ? readFileSync(resolve(base, user.tokenFile), 'utf8').trim() : undefined),
    clientCertPem: data(user['client-certificate-data'], user['client-certificate']),
    clientKeyPem: data(user['client-key-data'], user['client-key']),
  }
}

function main(): void {
  const { values } = parseArgs({
    options: {
      server: { type: 'string' },
      token: { type: 'string' },
      kubeconfig: { type: 'string' },
      'client-certificate': { type: 'string' },
      'client-key': { type: 'string' },
      'certificate-authority': { type: 'string' },
      'insecure-skip-tls-verify': { type: 'boolean' },
      'node-name': { type: 'string' },
      'kubelet-url': { type: 'string' },
      'kubelet-client-certificate': { type: 'string' },
      'kubelet-client-key': { type: 'string' },
      'kubelet-certificate-authority': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log(USAGE)
    return
  }
  const file = (p: string | undefined) => (p ? readFileSync(p, 'utf8') : undefined)
  const fromConfig = values.kubeconfig ? fromKubeconfig(values.kubeconfig) : {}
  const opts: AgentOptions = {
    ...fromConfig,
    server: values.server ?? fromConfig.server ?? '',
    nodeName: values['node-name'] ?? hostname().toLowerCase(),
    token: values.token ?? fromConfig.token,
    clientCertPem: file(values['client-certificate']) ?? fromConfig.clientCertPem,
    clientKeyPem: file(values['client-key']) ?? fromConfig.clientKeyPem,
    serverCAPem: file(values['certificate-authority']) ?? fromConfig.serverCAPem,
    insecureSkipTLSVerify: values['insecure-skip-tls-verify'] ?? fromConfig.insecureSkipTLSVerify,
    kubeletURL: values['kubelet-url'],
    kubeletClientCertPem: file(values['kubelet-client-certificate']),
    kubeletClientKeyPem: file(values['kubelet-client-key']),
    kubeletCAPem: file(values['kubelet-certificate-authority']),
  }
  if (!opts.server || !(opts.token || (opts.clientCertPem && opts.clientKeyPem))) {
    console.error(USAGE)
    process.exit(2)
  }
  const agent = startAgent(opts)
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => void agent.stop().then(() => process.exit(0)))
}

main()
