"""Rob Northen's ProPack ("RNC"), method 1: the compression of beneath-a-steel-sky's data files.

An 18-byte header ("RNC", 1, unpacked and packed sizes, CRC-16s of both, leeway, block count)
and then blocks. A block holds three canonical Huffman codes (for literal-run lengths, match
distances and match lengths: a 5-bit count, then a 4-bit code length per symbol) and a 16-bit
count of runs; each run is a literal run (its bytes stored whole in the stream) and, but for
the block's last, a match. Bits come least significant first from little-endian 16-bit words
that the literal bytes interleave: a word is read only when its first bit is needed. Symbol
s >= 2 stands for the value 2^(s-1) plus s-1 more bits.

Written from the format, checked by its CRCs; numba makes 100 minutes of game speech a minute's
work.
"""

import numpy as np
from numba import njit

from transducer.data.manifest import ManifestError

HEADER = 18


@njit(cache=True)
def _bits(src, st, n):
    """n bits from the stream; st = [next word, bit buffer, bits in it]. Zeros past the end."""
    while st[2] < n:
        p = st[0]
        w = np.int64(src[p]) if p < len(src) else np.int64(0)
        if p + 1 < len(src):
            w |= np.int64(src[p + 1]) << 8
        st[1] |= w << st[2]
        st[0] = p + 2
        st[2] += 16
    v = st[1] & ((1 << n) - 1)
    st[1] >>= n
    st[2] -= n
    return v


@njit(cache=True)
def _code(src, st, codes):
    """Read a Huffman code table: codes[s] = (length, canonical code), length 0 = unused;
    False where it has more than 16 symbols (corrupt data)."""
    codes[:] = 0
    n = _bits(src, st, 5)
    if n > 16:
        return False
    for s in range(n):
        codes[s, 0] = _bits(src, st, 4)
    code = 0
    for length in range(1, 17):
        for s in range(n):
            if codes[s, 0] == length:
                codes[s, 1] = code >> (16 - length)
                code += 1 << (16 - length)
    return True


@njit(cache=True)
def _value(src, st, codes):
    """One value: a symbol read bit by bit (first bit = the code's top bit), then its extra bits;
    -1 where no code matches (corrupt data)."""
    code = 0
    for length in range(1, 17):
        code = (code << 1) | _bits(src, st, 1)
        for s in range(16):
            if codes[s, 0] == length and codes[s, 1] == code:
                return s if s < 2 else (1 << (s - 1)) | _bits(src, st, s - 1)
    return -1


@njit(cache=True)
def _unpack(src, blocks, out):
    """Decode the packed stream into out; returns bytes written, or -1 where it is corrupt."""
    st = np.zeros(3, np.int64)
    raw = np.zeros((16, 2), np.int64)  # (literal runs, distances, match lengths)
    dist = np.zeros((16, 2), np.int64)
    size = np.zeros((16, 2), np.int64)
    _bits(src, st, 2)  # lock and key flags
    o = 0
    for _ in range(blocks):
        if not (_code(src, st, raw) and _code(src, st, dist) and _code(src, st, size)):
            return -1
        runs = _bits(src, st, 16)
        for r in range(runs):
            n = _value(src, st, raw)
            if n < 0 or o + n > len(out) or (n > 0 and st[0] + n > len(src)):
                return -1
            out[o : o + n] = src[st[0] : st[0] + n]
            o += n
            st[0] += n
            if r < runs - 1:
                back, n = _value(src, st, dist) + 1, _value(src, st, size) + 2
                if back < 1 or n < 2 or back > o or o + n > len(out):
                    return -1
                for i in range(n):  # byte by byte: source and target may overlap
                    out[o + i] = out[o - back + i]
                o += n
    return o


@njit(cache=True)
def crc16(data):
    """CRC-16/ARC (polynomial 0xA001 reflected, initial 0), as RNC's headers carry."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def unpack(data: bytes) -> bytes:
    """The unpacked bytes of an RNC method-1 file; ManifestError names what is wrong."""
    head = np.frombuffer(data[:HEADER], np.uint8)
    if len(head) < HEADER or data[:4] != b"RNC\x01":
        raise ManifestError("not RNC method-1 data")
    size, packed = int.from_bytes(data[4:8], "big"), int.from_bytes(data[8:12], "big")
    crc_out, crc_in = int.from_bytes(data[12:14], "big"), int.from_bytes(data[14:16], "big")
    src = np.frombuffer(data, np.uint8)[HEADER : HEADER + packed]
    if len(src) < packed:
        raise ManifestError(f"RNC data truncated ({len(src)} of {packed} packed bytes)")
    if crc16(src) != crc_in:
        raise ManifestError("RNC packed data fails its CRC")
    out = np.zeros(size, np.uint8)
    if _unpack(src, data[17], out) != size or crc16(out) != crc_out:
        raise ManifestError("RNC data corrupt (does not unpack to its size and CRC)")
    return out.tobytes()
