// Parses nginx's `combined` format followed by ` $request_time $upstream_response_time`:
// $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer"
// "$http_user_agent" $request_time $upstream_response_time
import { isUtf8 } from 'node:buffer';
import { isComplete, OTHER_METHOD_INDEX, resetRecord, type LineParser } from './log-record.js';
import { methodIndex, statusText, unsignedNumberText, upstreamTimeText } from './field-values.js';

// nginx escapes `"` inside these fields as \x22, so a quoted field is "anything but a bare quote".
const QUOTED = String.raw`"((?:[^"\\]|\\.)*)"`;
const TIMED_COMBINED = new RegExp(
  String.raw`^\S+ - \S+ \[[^\]]*\] ${QUOTED} (\d{3}) (\d+|-) ${QUOTED} ${QUOTED} (\S+) (.*)$`,
);

export const parseTimedCombinedLine: LineParser = (buf, start, end, out) => {
  resetRecord(out);
  const bytes = buf.subarray(start, end);
  if (!isUtf8(bytes)) return false;
  const match = TIMED_COMBINED.exec(bytes.toString('utf8'));
  if (!match) return false;
  const [, request = '', status = '', bodyBytes = '', , , requestTime = '', upstream = ''] = match;
  out.status = statusText(Buffer.from(status, 'latin1'), 0, status.length);
  out.requestTime = textNumber(requestTime, unsignedNumberText);
  out.bodyBytes = bodyBytes === '-' ? NaN : Number(bodyBytes);
  out.upstreamTime = textNumber(upstream, upstreamTimeText);
  const space = request.indexOf(' ');
  out.methodIndex = space > 0 ? methodIndex(Buffer.from(request, 'latin1'), 0, space) : OTHER_METHOD_INDEX;
  return isComplete(out);
};

function textNumber(text: string, read: (buf: Uint8Array, start: number, end: number) => number): number {
  const bytes = Buffer.from(text, 'latin1');
  return read(bytes, 0, bytes.length);
}
