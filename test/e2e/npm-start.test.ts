// `npm start` itself (scripts/start.mjs: wrangler dev, workerd, the HTTPS listener in front), as a user runs
// it: what it prints, the flags it refuses, the port it will not share, and its state dir across restarts.
// The other end-to-end files run the same Worker in-process (LocalServer, edge-apiserver/testing).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, NpmStartServer, run } from './harness'

const START = resolve(__dirname, '..', '..', 'scripts', 'start.mjs')
let server: NpmStartServer
const dirs: string[] = []
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'edge-apiserver-npm-start-'))
  dirs.push(d)
  return d
}

const NODE_TOKEN = 'node-a-npm-start-token-0123456789'

beforeAll(async () => {
  // npm start adds <state-dir>/tokens.csv to its token file.
  const stateDir = tempDir()
  writeFileSync(
    join(stateDir, 'tokens.csv'),
    `${NODE_TOKEN},system:node:node-a,uid-a,"system:nodes"\n`,
  )
  server = await NpmStartServer.start(stateDir, ['--enable-admission-plugins=NodeRestriction'])
})
afterAll(async () => {
  await server?.dispose()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('npm start', () => {
  it('says where it serves and which kubeconfig to use, and kubectl works with it', async () => {
    expect(server.output).toContain(
      `edge-apiserver is serving at https://127.0.0.1:${server.port}\n`,
    )
    expect(server.output).toContain(`export KUBECONFIG=${server.kubeconfig}\n`)
    expect(await server.k('get', 'namespace', 'kube-system', '-o', 'name')).toBe(
      'namespace/kube-system\n',
    )
  })

  it('hands its flags and tokens.csv to the Worker: NodeRestriction stops a node writing another', async () => {
    const node = (name: string) => `{"apiVersion":"v1","kind":"Node","metadata":{"name":"${name}"}}`
    const own = await server.kubectl(['--token', NODE_TOKEN, 'create', '-f', '-'], {
      input: node('node-a'),
    })
    expect(own).toMatchObject({ code: 0, stdout: 'node/node-a created\n' })
    const other = await server.kubectl(['--token', NODE_TOKEN, 'create', '-f', '-'], {
      input: node('node-b'),
    })
    expect(other.stderr).toBe(
      'Error from server (Forbidden): error when creating "STDIN": nodes "node-b" is forbidden: node "node-a" is not allowed to modify node "node-b"\n',
    )
  })

  it('keeps the cluster and the credentials in its state dir across a restart', async () => {
    await server.k('create', 'configmap', 'kept')
    const kubeconfig = readFileSync(server.kubeconfig, 'utf8')
    await server.restart([])
    expect(readFileSync(server.kubeconfig, 'utf8')).toBe(kubeconfig)
    expect(await server.k('get', 'configmap', 'kept', '-o', 'name')).toBe('configmap/kept\n')
  })

  it('refuses a port in use, and a flag whose file it cannot read', async () => {
    const taken: Server = createServer()
    const port = await freePort()
    await new Promise<void>((r) => taken.listen(port, '127.0.0.1', r))
    try {
      const r = await run(process.execPath, [
        START,
        '--port',
        String(port),
        '--state-dir',
        tempDir(),
      ])
      expect(r).toMatchObject({
        code: 1,
        stderr: `--port ${port}: 127.0.0.1:${port} is already in use\n`,
      })
    } finally {
      taken.close()
    }
    const missing = join(tempDir(), 'missing.yaml')
    const r = await run(process.execPath, [
      START,
      '--port',
      String(await freePort()),
      '--state-dir',
      tempDir(),
      `--encryption-provider-config=${missing}`,
    ])
    expect(r).toMatchObject({
      code: 2,
      stderr: `--encryption-provider-config: cannot read ${missing}: ENOENT\n`,
    })
    const bad = await run(process.execPath, [START, '--port', '0'])
    expect(bad).toMatchObject({ code: 2, stderr: '--port: invalid port 0\n' })
  })
})
