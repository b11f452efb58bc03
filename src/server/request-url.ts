// A request's URL, parsed once: request info, the deadline, metrics, audit and the JSON indenting each
// read its path or query, and a parse per filter was a measurable share of a GET's CPU at the edge.
// Callers read it and never change it (make a new URL to change one).
const parsed = new WeakMap<Request, URL>()

export function requestURL(req: Request): URL {
  let url = parsed.get(req)
  if (!url) parsed.set(req, (url = new URL(req.url)))
  return url
}
