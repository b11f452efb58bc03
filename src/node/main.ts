// npm run start:node / node dist/node.js: the Kubernetes API over HTTPS on a real etcd.
import { builtinResources } from '../registry/builtin'
import { Registry } from '../registry/registry'
import { FlagError, parseFlags, USAGE } from './flags'
import { startNodeServer, StartupError } from './server'
import { errorText } from '../util/errors'

async function main(): Promise<number> {
  let cfg
  try {
    cfg = parseFlags(process.argv.slice(2))
  } catch (e) {
    if (e instanceof FlagError) {
      // kube-apiserver's command silences cobra's usage text after an error; --help prints it.
      console.error(`Error: ${e.message}`)
      return 2
    }
    throw e
  }
  if (cfg === 'help') {
    console.log(USAGE)
    return 0
  }
  let server
  try {
    server = await startNodeServer(cfg, { registry: new Registry(builtinResources) })
  } catch (e) {
    if (e instanceof StartupError) {
      console.error(`Error: ${e.message}`)
      return 1
    }
    throw e
  }
  const lines = [`edge-apiserver (node) is serving at ${server.url}`]
  if (server.kubeconfigPath) lines.push(`export KUBECONFIG=${server.kubeconfigPath}`)
  console.log(lines.join('\n'))

  return new Promise<number>((resolve) => {
    let stopping = false
    const stop = (signal: string) => {
      if (stopping) return
      stopping = true
      console.error(`${signal}: shutting down`)
      server.shutdown().then(
        () => resolve(0),
        (e) => {
          console.error(`shutdown: ${errorText(e)}`)
          resolve(1)
        },
      )
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
  })
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
