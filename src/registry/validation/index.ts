export * from './names'
export * from './objectmeta'
export { semanticEqual, clone } from './equality'
export {
  checkDecodable,
  decodeError,
  schemaFieldErrors,
  mergeFieldErrors,
  type SchemaValidator,
  type SchemaTarget,
} from './schema'
export { child, index, key } from './path'
