// What was thrown, as text for a message or a log line. Anything may be thrown or passed as a stream's
// rejection reason (a cancelled stream rejects its reads with whatever it was cancelled with, often
// nothing), so a catch that reads `.message` of it can throw in turn, and in a loop nobody awaits that
// ends the Node process.

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message
  if (e === undefined) return 'no reason given'
  return String(e)
}
