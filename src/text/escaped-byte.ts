// The code units that stand for bytes of a name that were not valid UTF-8 (see bytes.ts). A
// module of its own without imports, so that display-text.ts also loads in a browser.

/** First and last code unit that stand for an undecodable byte 0x80-0xFF (U+DC80 + byte). */
export const ESCAPED_BYTE_FIRST = 0xdc80;
export const ESCAPED_BYTE_LAST = 0xdcff;
