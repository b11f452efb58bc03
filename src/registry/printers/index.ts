export * from './duration'
export * from './format'
export { defaultPrinter } from './default'
export { podSummary, readinessGates } from './pod'
