/** The sans-I/O USB/IP wire codec: encoders (message → bytes) and incremental decoders (bytes → messages). */

export {
  ClientDecoder,
  type ClientDecoderOptions,
  type DecoderPhase,
  NEED_DATA,
  type NeedData,
  ServerDecoder,
  type SubmittedUrb,
  type UrbDirection,
} from './decoder.js'
export {
  encodeCmdSubmit,
  encodeCmdUnlink,
  encodeMessage,
  encodeOpRepDevlist,
  encodeOpRepImport,
  encodeOpReqDevlist,
  encodeOpReqImport,
  encodeRetSubmit,
  encodeRetUnlink,
} from './encode.js'
