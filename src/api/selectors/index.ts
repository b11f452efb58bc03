export * from './labels'
export * from './fields'
export { isLabelKey, isLabelValue, isDNS1123Subdomain } from './validation'
