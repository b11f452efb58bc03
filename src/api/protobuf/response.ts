// application/vnd.kubernetes.protobuf responses: lists written item by item, and watch events in the
// length-delimited frames of kube's protobuf stream serializer.
import { encodeMessage } from './encode'
import { ENVELOPE_TAIL, envelopeHead } from './envelope'
import { messageForKind, messages, type FieldType, type Message } from './messages'
import { ProtobufError, WIRE_BYTES } from './reader'
import { WireWriter } from './writer'

type Obj = Parameters<typeof encodeMessage>[1]

/**
 * A list (PodList, PartialObjectMetadataList, ...) in the protobuf envelope, as chunks to send one after
 * another: kube's streaming collections encoder likewise sizes every item first and then writes the envelope,
 * the list metadata and each item in turn, so that no buffer holds the whole list. Every <Kind>List message
 * is { ListMeta metadata = 1; repeated <Kind> items = 2 }.
 */
export function protobufListChunks(
  apiVersion: string,
  listKind: string,
  listMeta: Record<string, unknown>,
  items: Record<string, unknown>[],
): Uint8Array[] {
  const list = messageForKind(apiVersion, listKind)
  const metaMsg = messageOf(list?.byNumber.get(1)?.type)
  const itemsType = list?.byNumber.get(2)?.type
  const itemMsg = messageOf(itemsType?.kind === 'repeated' ? itemsType.elem : undefined)
  if (!metaMsg || !itemMsg)
    throw new ProtobufError(`no protobuf message for ${listKind} in ${apiVersion}`)
  const head = new WireWriter().bytes(1, encodeMessage(metaMsg, listMeta as Obj)).finish()
  const chunks: Uint8Array[] = [head]
  let rawLength = head.length
  for (const obj of items) {
    const body = encodeMessage(itemMsg, obj as Obj)
    const key = new WireWriter()
      .varint((2 << 3) | WIRE_BYTES)
      .varint(body.length)
      .finish()
    chunks.push(key, body)
    rawLength += key.length + body.length
  }
  chunks.unshift(envelopeHead(apiVersion, listKind, rawLength))
  chunks.push(ENVELOPE_TAIL)
  return chunks
}

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
