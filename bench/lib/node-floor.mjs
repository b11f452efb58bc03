// The floor under Node mode's figures: the least any Node.js HTTPS server that answers from etcd spends on a
// request, run as its own process so that its CPU is measured as the API server's is. GET reads one key
// with the etcd3 client and sends its value back; POST parses the JSON body, writes it under a new key with
// the same create-if-absent transaction the API server uses, and sends it back with 201. No routing
// library, authentication, validation or metadata: what is left between this and the API server is what
// the API server itself does.
//
//   node bench/lib/node-floor.mjs <etcd-client.mjs> <etcd endpoint> <port> <cert.pem> <key.pem> <key to GET>
import { readFileSync } from 'node:fs'
import { createServer } from 'node:https'
import { pathToFileURL } from 'node:url'

const [clientModule, endpoint, port, certFile, keyFile, getKey] = process.argv.slice(2)
const { etcdClient } = await import(pathToFileURL(clientModule).href)
const etcd = etcdClient({ endpoints: [endpoint] })
let seq = 0

const server = createServer(
  { cert: readFileSync(certFile), key: readFileSync(keyFile), keepAliveTimeout: 90_000 },
  (req, res) => {
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length })
      res.end(body)
    }
    const fail = (e) => send(500, Buffer.from(JSON.stringify({ message: String(e) })))
    if (req.method === 'GET') {
      etcd.get(getKey).buffer().then((v) => (v ? send(200, v) : send(404, Buffer.from('{}'))), fail)
      return
    }
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const obj = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      const key = `/bench-floor/${process.pid}-${seq++}`
      const value = Buffer.from(JSON.stringify(obj))
      etcd
        .if(key, 'Create', '==', 0)
        .then(etcd.put(key).value(value))
        .commit()
        .then((r) => (r.succeeded ? send(201, value) : send(409, Buffer.from('{}'))), fail)
    })
  },
)
server.listen(Number(port), '127.0.0.1', () => console.log('listening'))
