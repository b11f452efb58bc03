// application/vnd.kubernetes.protobuf responses: lists written item by item, and watch events in the
// length-delimited frames of kube's protobuf stream serializer.
import { writeMessage, type encodeMessage } from './encode'
import { messageForKind, messages, type FieldType, type Message } from './messages'
import { ProtobufError } from './reader'
import { WireWriter } from './writer'

type Obj = Parameters<typeof encodeMessage>[1]

/**
 * A list (PodList, PartialObjectMetadataList, ...) in the protobuf envelope, as chunks to send one after
 * another: the envelope, the list metadata and each item written in turn into one growing buffer (no buffer
 * per item to copy again), then sent in slices of it. A <Kind>List message is { ListMeta metadata = 1;
 * repeated <Kind> items = 2 }, but for meta/v1beta1's PartialObjectMetadataList, whose items are 1 and
 * metadata 2: fields go out in number order, as gogo writes them.
 */
export function protobufListChunks(
  apiVersion: string,
  listKind: string,
  listMeta: Record<string, unknown>,
  items: Record<string, unknown>[],
): Uint8Array[] {
  const list = messageForKind(apiVersion, listKind)
  const metaField = list?.fields.find((f) => f.json === 'metadata')
  const itemsField = list?.fields.find((f) => f.json === 'items')
  const metaMsg = messageOf(metaField?.type)
  const itemsType = itemsField?.type
  const itemMsg = messageOf(itemsType?.kind === 'repeated' ? itemsType.elem : undefined)
  if (!metaField || !itemsField || !metaMsg || !itemMsg)
    throw new ProtobufError(`no protobuf message for ${listKind} in ${apiVersion}`)
  const w = new WireWriter(64 * 1024)
  for (const b of MAGIC) w.varint(b)
  w.message(1, (t) => t.string(1, apiVersion).string(2, listKind))
  const raw = w.begin(2)
  const writeMeta = () => {
    const at = w.begin(metaField.no)
    writeMessage(w, metaMsg, listMeta as Obj)
    w.end(at)
  }
  if (metaField.no < itemsField.no) writeMeta()
  for (const obj of items) {
    const at = w.begin(itemsField.no)
    writeMessage(w, itemMsg, obj as Obj)
    w.end(at)
  }
  if (metaField.no > itemsField.no) writeMeta()
  w.end(raw)
  w.string(3, '').string(4, '')
  const body = w.finish()
  const chunks: Uint8Array[] = []
  for (let at = 0; at < body.length; at += CHUNK) chunks.push(body.subarray(at, at + CHUNK))
  return chunks
}

const MAGIC = [0x6b, 0x38, 0x73, 0x00] // "k8s\0"
const CHUNK = 256 * 1024
function messageOf(t: FieldType | undefined): Message | undefined {
  return t?.kind === 'message' ? messages().get(t.message) : undefined
}

/**
 * One watch event as kube's protobuf stream serializer frames it: a 4-byte big-endian length, then a
 * metav1.WatchEvent { string type = 1; runtime.RawExtension object = 2 } written by the raw serializer (no
 * envelope of its own), whose object's raw is the object in the "k8s\0" envelope.
 */
export function watchEventFrame(type: string, object: Uint8Array): Uint8Array {
  const event = new WireWriter()
    .string(1, type)
    .message(2, (raw) => raw.bytes(1, object))
    .finish()
  const frame = new Uint8Array(4 + event.length)
  new DataView(frame.buffer).setUint32(0, event.length)
  frame.set(event, 4)
  return frame
}
