// The ceiling: a bare Hono route returning a small constant JSON, run exactly as `npm start` runs the
// server (wrangler dev, workerd, HTTPS). Every edge figure in the bench is also given as a ratio to it.
import { Hono } from 'hono'

const app = new Hono()
const body = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 }
app.get('*', (c) => c.json(body))

export default app
