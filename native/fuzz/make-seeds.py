#!/usr/bin/env python3
"""Split the pcap fixtures into libFuzzer seeds in the harness's input layout:
byte 0 = index of the link type in fuzz_decode.cc's kLinkTypes, bytes 1-2 = wire - caplen
(15 bits; bit 15 set: caplen - wire, a corrupt record with more captured than on the wire)."""
import os
import struct
import sys

LINK_TYPES = [0, 1, 12, 101, 108, 113, 228, 229, 276]


def main(fixtures, out):
    os.makedirs(out, exist_ok=True)
    n = 0
    for name in sorted(os.listdir(fixtures)):
        if not name.endswith('.pcap'):
            continue
        data = open(os.path.join(fixtures, name), 'rb').read()
        if len(data) < 24:
            continue
        linktype = struct.unpack('<I', data[20:24])[0]
        if linktype not in LINK_TYPES:
            continue
        sel = LINK_TYPES.index(linktype)
        off = 24
        while off + 16 <= len(data):
            _, _, caplen, wire = struct.unpack('<IIII', data[off:off + 16])
            pkt = data[off + 16:off + 16 + caplen]
            off += 16 + caplen
            if wire >= caplen:
                extra = min(wire - caplen, 0x7fff)
            else:
                extra = 0x8000 | min(caplen - wire, 0x7fff)
            with open(os.path.join(out, f'{name}-{n}'), 'wb') as f:
                f.write(bytes([sel]) + struct.pack('<H', extra) + pkt)
            n += 1
    print(f'{n} seeds from {fixtures}')


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
