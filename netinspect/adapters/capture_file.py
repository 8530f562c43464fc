"""Capture file reader: classic pcap, pcapng, and gzip of either, read as a stream.

The file is read in chunks of CHUNK bytes and walked in place with precompiled structs, so
memory does not grow with the file. Every length read from the file (record length, block
length, option length) is checked against a cap before it is used. What the reader accepts:

- classic pcap: both byte orders, microsecond (a1b2c3d4) and nanosecond (a1b23c4d)
  timestamps, and the modified/Kuznetzov variant (a1b2cd34) with its longer record header;
- pcapng: several sections and interfaces, each interface with its own link type,
  timestamp resolution (if_tsresol) and offset (if_tsoffset); enhanced, simple and
  obsolete packet blocks; other block types skipped;
- gzip of either, recognised by its magic bytes, not by the file name.

Damage: a container that cannot be walked further raises CaptureFileError(path, offset,
reason) after every good frame before it has been yielded; a file that is no capture at
all raises NotACaptureError. Frames with bad headers inside are the decoders' business.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from typing import Iterator

from netinspect.core.errors import BadInput, CaptureFileError, NotACaptureError, RuntimeFailure
from netinspect.core.records import Frame
from netinspect.wire.decode import DecodeStats, RecordDecoder, decode_frame

CHUNK = 1 << 20                 # bytes read per step
MAX_RECORD = 256 * 1024         # largest frame accepted (tcpdump's default snaplen is 262144)
MAX_BLOCK = 16 * 1024 * 1024    # largest pcapng block accepted
MAX_INTERFACES = 65536          # pcapng interfaces per section
MAX_GZIP_INPUT = 1 << 18        # compressed bytes fed to zlib per step
SALVAGE_STEP = 64               # compressed bytes per step when recovering data before corruption

PCAP_MAGIC = {
    # magic as read little-endian -> (byte order, fraction unit in ns, record header size)
    0xA1B2C3D4: ("<", 1000, 16),
    0xA1B23C4D: ("<", 1, 16),
    0xA1B2CD34: ("<", 1000, 24),
    0xD4C3B2A1: (">", 1000, 16),
    0x4D3CB2A1: (">", 1, 16),
    0x34CDB2A1: (">", 1000, 24),
}
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D
GZIP_MAGIC = b"\x1f\x8b"
# Containers people compress captures with that this reader does not open itself.
OTHER_COMPRESSION = ((b"\xfd7zX", "xz"), (b"BZh", "bzip2"), (b"\x28\xb5\x2f\xfd", "zstd"),
                     (b"PK\x03\x04", "zip"), (b"\x04\x22\x4d\x18", "lz4"))

BT_IDB = 1
BT_PB = 2       # obsolete packet block
BT_SPB = 3
BT_EPB = 6
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14


@dataclass(slots=True)
class CaptureStats(DecodeStats):
    """What a reader saw, for the summary and the progress bar."""

    frames: int = 0
    captured_bytes: int = 0


class _GzipStream:
    """Streamed gunzip with bounded output per call; multi-member files are read through."""

    def __init__(self, raw, path: str):
        self.raw = raw
        self.path = path
        self.z = zlib.decompressobj(47)  # 32 + 15: gzip header, window up to 32 KiB
        self.pending = b""
        self.finished = False

    def _where(self) -> str:
        try:
            return f"compressed byte {self.raw.tell() - len(self.pending)}"
        except (OSError, ValueError):
            return "unknown compressed byte"

    def read(self, size: int) -> bytes:
        """Up to `size` bytes; b'' at the clean end; raises _StreamDamage on a cut or bad stream.

        zlib is asked for at most `size` bytes per call, so a small file that inflates to
        gigabytes is still read a chunk at a time.
        """
        if self.damage:
            raise _StreamDamage(self.damage)
        out = []
        have = 0
        try:
            self._inflate(out, size)
        except _StreamDamage as exc:
            if not out:
                raise
            # Hand over what was inflated before the damage; report it on the next call.
            self.damage = exc.args[0]
        return b"".join(out)

    damage = ""

    def _inflate(self, out: list, size: int) -> None:
        have = 0
        while have < size and not self.finished:
            if self.z.eof:
                # Another member may follow; trailing zero padding is tolerated like gzip(1).
                # (At the end of a member zlib reports the leftover input both as unused_data
                # and as unconsumed_tail: take it once.)
                rest = self.z.unused_data.lstrip(b"\0")
                while not rest:
                    more = self.raw.read(MAX_GZIP_INPUT)
                    if not more:
                        self.finished = True
                        break
                    rest = more.lstrip(b"\0")
                if self.finished:
                    break
                self.z = zlib.decompressobj(47)
                self.pending = rest
            if not self.pending:
                self.pending = self.raw.read(MAX_GZIP_INPUT)
                if not self.pending:
                    raise _StreamDamage(f"gzip stream cut off before its end ({self._where()})")
            saved = self.z.copy()
            try:
                chunk = self.z.decompress(self.pending, size - have)
            except zlib.error as exc:
                self._salvage(saved, out, size - have)
                raise _StreamDamage(f"gzip data corrupt near {self._where()} ({exc})") from None
            self.pending = self.z.unconsumed_tail
            if chunk:
                out.append(chunk)
                have += len(chunk)


    def _salvage(self, z, out: list, limit: int) -> None:
        """zlib drops a call's output when it meets corrupt data: inflate the same input again
        in small steps from the state before the call, keeping what came before the error
        (at most `limit` bytes: the data after them cannot be reached anyway)."""
        data = self.pending
        step = SALVAGE_STEP
        i = 0
        while i < len(data):
            saved = z.copy()
            try:
                piece = z.decompress(data[i:i + step], limit)
            except zlib.error:
                if step == 1:
                    return
                z, step = saved, 1   # the same bytes again, one at a time
                continue
            i += step
            if piece:
                out.append(piece)
                limit -= len(piece)
            if limit <= 0 or z.unconsumed_tail:
                return


class _StreamDamage(Exception):
    pass


def _check_file(path: str):
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file; give the path of a pcap, pcapng or .gz capture") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a directory; give the path of a pcap, pcapng or .gz capture") from None
    except OSError as exc:
        raise RuntimeFailure(f"{path}: cannot open ({exc.strerror or exc})") from None
    return handle


class CaptureReader:
    """One capture file, opened and recognised. Iterate it once with frames() or records().

    Attributes: path, format ('pcap' or 'pcapng'), compressed, file_size, stats.
    `position()` gives the raw file bytes consumed so far, for a progress bar.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._raw = _check_file(self.path)
        try:
            self.file_size = os.fstat(self._raw.fileno()).st_size
            self.stats = CaptureStats()
            self._source = self._raw
            self._gz = None
            self.compressed = False
            head = self._raw.read(4)
            if head[:2] == GZIP_MAGIC:
                self.compressed = True
                self._gz = _GzipStream(self._raw, self.path)
                self._gz.pending = head
                self._source = self._gz
                try:
                    head = self._read_exact_head(4)
                except _StreamDamage as exc:
                    raise CaptureFileError(self.path, 0, exc.args[0]) from None
            self._head = head
            if len(head) < 4:
                raise NotACaptureError(self.path, "empty file" if not head else f"only {len(head)} bytes")
            le = struct.unpack("<I", head)[0]
            if le in PCAP_MAGIC:
                self.format = "pcap"
            elif le == PCAPNG_SHB:
                self.format = "pcapng"
            else:
                what = "gzip of something else, " if self.compressed else ""
                for magic, name in OTHER_COMPRESSION:
                    if head.startswith(magic):
                        what += f"{name}-compressed: decompress it first, "
                        break
                raise NotACaptureError(self.path, f"{what}magic bytes {head.hex()} are not pcap or pcapng")
        except BaseException:
            self._raw.close()
            raise
        self._used = False

    def _read_exact_head(self, n: int) -> bytes:
        got = b""
        while len(got) < n:
            more = self._gz.read(n - len(got))
            if not more:
                break
            got += more
        return got

    # -- context manager -------------------------------------------------------------
    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> "CaptureReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def position(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return self.file_size

    # -- iteration -------------------------------------------------------------------
    def frames(self) -> Iterator[Frame]:
        """Every frame as a core.records.Frame."""
        def emit(buf, p, caplen, wire_len, ts_ns, index, linktype, interface):
            return Frame(ts_ns, linktype, buf[p:p + caplen], wire_len, index, interface)
        return self._walk(emit)

    def records(self, payload_prefix: int = 0, all_options: bool = False) -> Iterator:
        """Decoded transport records straight from the buffer (no Frame objects):
        core.records.Segment, Datagram, IcmpMessage and wire.arp.ArpPacket, in file order.
        Frames with no such record are only counted (stats.other, stats.fragments); flagged
        frames are counted in stats.malformed and stats.malformed_reasons.
        """
        decoder = RecordDecoder(self.stats, payload_prefix, all_options)
        if self.format == "pcap":
            self._claim()
            return self._records_pcap(decoder)
        return self._guarded(self._walk_pcapng(decoder.decode, True, decoder.walk_epbs))

    def records_shard(self, shard: int, shards: int, payload_prefix: int = 0) -> Iterator:
        """records() of the flows of one shard: every record header is walked, but only the
        frames whose direction-symmetric flow key falls in `shard` (of `shards`) are decoded
        and counted (RecordDecoder.sharded); the frame count is the whole file's."""
        for batch in self.record_batches_shard(shard, shards, payload_prefix):
            yield from batch

    def record_batches_shard(self, shard: int, shards: int, payload_prefix: int = 0,
                             batch: int = 512) -> Iterator[list]:
        """records_shard() as lists of records (one generator step per list, not per record),
        each from at most `batch` frames."""
        decoder = RecordDecoder(self.stats, payload_prefix)
        if self.format == "pcap":
            self._claim()
            return self._records_pcap(decoder, shard, shards, batches=True, batch=batch)
        return _batched(self._walk(decoder.sharded(shard, shards), skip_none=True), batch)

    def scan(self, visit) -> None:
        """Call visit(buf, start, caplen, wire_len, ts_ns, index, linktype, interface) for every
        frame in file order, without making Frame objects: the frame is buf[start:start+caplen],
        and `buf` is valid only during the call. For passes that read a few header bytes of
        every frame (cast counts, link survey). Damage raises as in frames()."""
        for _ in self._walk(visit, skip_none=True):
            pass

    def decoded(self) -> Iterator:
        """Every frame through wire.decode.decode_frame (all fields; slower than records())."""
        stats = self.stats
        for frame in self.frames():
            d = decode_frame(frame)
            if d.malformed:
                stats.flag(d.malformed)
            yield d

    def _walk(self, emit, skip_none: bool = False):
        walker = self._walk_pcap if self.format == "pcap" else self._walk_pcapng
        return self._guarded(walker(emit, skip_none))

    def _claim(self) -> None:
        if self._used:
            raise RuntimeError("a CaptureReader can be iterated once")
        self._used = True

    def _guarded(self, generator):
        self._claim()
        try:
            yield from generator
        finally:
            self.close()

    def _read(self, size: int, offset: int) -> bytes:
        if self._gz is None and size > CHUNK:
            # A large read is asked for by a (capped) block length; a short file need not
            # have a buffer that large allocated for it.
            try:
                size = max(CHUNK, min(size, self.file_size - self._raw.tell() + CHUNK))
            except (OSError, ValueError):
                pass
        try:
            return self._source.read(size)
        except _StreamDamage as exc:
            raise CaptureFileError(self.path, offset, exc.args[0]) from None
        except OSError as exc:
            raise RuntimeFailure(f"{self.path}: read failed at byte offset {offset} ({exc.strerror or exc})") from None

    def _fill(self, buf: bytes, off: int, base: int, need: int) -> tuple[bytes, int, int, bool]:
        """Keep buf[off:] and append at least one chunk; returns (buf, 0, new base, eof)."""
        chunk = self._read(max(CHUNK, need), base + len(buf))
        if not chunk:
            return buf, off, base, True
        return buf[off:] + chunk, 0, base + off, False

    # -- classic pcap ----------------------------------------------------------------
    def _pcap_header(self):
        """Read the file header: (buffer so far, record struct, header size, ns per fraction unit, linktype)."""
        path = self.path
        buf = self._head + self._read(CHUNK, 4)
        if len(buf) < 24:
            raise CaptureFileError(path, len(buf), f"pcap file header cut off ({len(buf)} of 24 bytes)")
        order, unit, rec_len = PCAP_MAGIC[struct.unpack_from("<I", buf)[0]]
        major, minor, _zone, _sigfigs, _snaplen, network = struct.unpack_from(order + "HHiIII", buf, 4)
        if major != 2:
            raise CaptureFileError(path, 4, f"unsupported pcap version {major}.{minor} (expected 2.x)")
        # The upper bits may carry FCS information; the link type is the low 16 bits.
        linktype = network & 0xFFFF
        # The modified (Kuznetzov) format appends ifindex, protocol, pkt_type and padding.
        record = struct.Struct(order + "IIII" + ("8x" if rec_len == 24 else ""))
        return buf, record, rec_len, unit, linktype

    def _records_pcap(self, decoder, shard: int = 0, shards: int = 1, batches: bool = False, batch: int = 512):
        path = self.path
        stats = self.stats
        buf, record, rec_len, unit, linktype = self._pcap_header()
        base = 0
        off = 24
        index = 0
        walk = decoder.walk_pcap
        rec_len = record.size
        try:
            while True:
                before = index
                out, off, index, captured, reason = walk(buf, off, record, unit, linktype, index, MAX_RECORD,
                                                         batch, shard, shards)
                stats.frames = index
                stats.captured_bytes += captured
                if batches:
                    if out:
                        yield out
                else:
                    yield from out
                if reason:
                    raise CaptureFileError(path, base + off, reason)
                if index > before and off + rec_len <= len(buf):
                    continue  # the batch ended, not the buffer (a cut record comes back here once)
                buf, off, base, eof = self._fill(buf, off, base, 0)
                if eof:
                    self._pcap_tail(buf, off, base, record)
                    return
        finally:
            self.close()

    def _pcap_tail(self, buf, off, base, record):
        """At the end of the file: fine when nothing is left, damage when a record is cut."""
        left = len(buf) - off
        if left == 0:
            return
        rec_len = record.size
        if left < rec_len:
            raise CaptureFileError(self.path, base + off, f"record header cut off ({left} of {rec_len} bytes)")
        caplen = record.unpack_from(buf, off)[2]
        if caplen > MAX_RECORD:
            raise CaptureFileError(self.path, base + off, f"record length {caplen} exceeds the cap of {MAX_RECORD} bytes")
        raise CaptureFileError(self.path, base + off, f"record data cut off ({left - rec_len} of {caplen} bytes)")

    def _walk_pcap(self, emit, skip_none):
        path = self.path
        stats = self.stats
        buf, record, rec_len, unit, linktype = self._pcap_header()
        unpack = record.unpack_from
        base = 0
        off = 24
        index = 0
        captured = 0
        cap = MAX_RECORD
        try:
            while True:
                n = len(buf)
                while off + rec_len <= n:
                    sec, frac, caplen, wire_len = unpack(buf, off)
                    if caplen > cap:
                        raise CaptureFileError(path, base + off, f"record length {caplen} exceeds the cap of {cap} bytes")
                    p = off + rec_len
                    end = p + caplen
                    if end > n:
                        break
                    item = emit(buf, p, caplen, wire_len, sec * 1000000000 + frac * unit, index, linktype, 0)
                    index += 1
                    captured += caplen
                    off = end
                    if item is not None or not skip_none:
                        yield item
                stats.frames = index
                stats.captured_bytes = captured
                buf, off, base, eof = self._fill(buf, off, base, 0)
                if eof:
                    self._pcap_tail(buf, off, base, record)
                    return
        finally:
            stats.frames = index
            stats.captured_bytes = captured

    # -- pcapng ----------------------------------------------------------------------
    def _walk_pcapng(self, emit, skip_none, fast_walk=None):
        """Walk the blocks; `fast_walk` (RecordDecoder.walk_epbs), when given, takes each run
        of well-formed packet blocks in one call and leaves everything else to this loop."""
        path = self.path
        stats = self.stats
        buf = self._head + self._read(CHUNK, 4)
        base = 0
        off = 0
        index = 0
        captured = 0
        order = "<"
        block_head = struct.Struct("<II")
        epb = struct.Struct("<IIIII")
        pb = struct.Struct("<HHIIII")
        u32 = struct.Struct("<I")
        interfaces: list = []   # (linktype, snaplen, mul, div, shift, add_ns)
        try:
            while True:
                n = len(buf)
                while off + 12 <= n:
                    if fast_walk is not None and interfaces:
                        out, off, index, fast_bytes = fast_walk(buf, off, order, interfaces, index, MAX_RECORD, MAX_BLOCK)
                        captured += fast_bytes
                        if out:
                            stats.frames = index
                            yield from out
                        if off + 12 > n:
                            break
                    btype = u32.unpack_from(buf, off)[0]
                    if btype == PCAPNG_SHB:
                        bom = buf[off + 8:off + 12]
                        if bom == b"\x4d\x3c\x2b\x1a":
                            order = "<"
                        elif bom == b"\x1a\x2b\x3c\x4d":
                            order = ">"
                        else:
                            raise CaptureFileError(path, base + off + 8, f"bad pcapng byte-order magic {bom.hex()}")
                        block_head = struct.Struct(order + "II")
                        epb = struct.Struct(order + "IIIII")
                        pb = struct.Struct(order + "HHIIII")
                        u32 = struct.Struct(order + "I")
                    btype, blen = block_head.unpack_from(buf, off)
                    if blen < 12 or blen & 3 or blen > MAX_BLOCK:
                        why = "beyond the cap of %d bytes" % MAX_BLOCK if blen > MAX_BLOCK else (
                            "below the minimum of 12" if blen < 12 else "not a multiple of 4")
                        raise CaptureFileError(path, base + off + 4, f"pcapng block length {blen} {why}")
                    end = off + blen
                    if end > n:
                        break
                    if u32.unpack_from(buf, end - 4)[0] != blen:
                        raise CaptureFileError(path, base + end - 4,
                                               f"pcapng block trailer length {u32.unpack_from(buf, end - 4)[0]} "
                                               f"differs from its header length {blen}")
                    if btype == BT_EPB or btype == BT_PB:
                        if blen < 32:
                            raise CaptureFileError(path, base + off + 4, f"packet block length {blen} below 32")
                        if btype == BT_EPB:
                            iface, ts_hi, ts_lo, caplen, wire_len = epb.unpack_from(buf, off + 8)
                        else:
                            iface, _drops, ts_hi, ts_lo, caplen, wire_len = pb.unpack_from(buf, off + 8)
                        if caplen > blen - 32 or caplen > MAX_RECORD:
                            raise CaptureFileError(path, base + off + 20,
                                                   f"packet length {caplen} beyond its block ({blen} bytes)"
                                                   if caplen > blen - 32 else
                                                   f"packet length {caplen} exceeds the cap of {MAX_RECORD} bytes")
                        if iface >= len(interfaces):
                            raise CaptureFileError(path, base + off + 8,
                                                   f"packet for interface {iface}, but {len(interfaces)} declared")
                        linktype, _snap, mul, div, shift, add = interfaces[iface]
                        ts = (ts_hi << 32) | ts_lo
                        ts_ns = ((ts * mul) // div >> shift) + add
                        item = emit(buf, off + 28, caplen, wire_len, ts_ns, index, linktype, iface)
                        index += 1
                        captured += caplen
                        if item is not None or not skip_none:
                            yield item
                    elif btype == BT_SPB:
                        if blen < 16:
                            raise CaptureFileError(path, base + off + 4, f"simple packet block length {blen} below 16")
                        if not interfaces:
                            raise CaptureFileError(path, base + off, "simple packet block before any interface")
                        wire_len = u32.unpack_from(buf, off + 8)[0]
                        linktype, snap, _m, _d, _s, _a = interfaces[0]
                        caplen = min(wire_len, blen - 16, snap or MAX_RECORD, MAX_RECORD)
                        item = emit(buf, off + 12, caplen, wire_len, 0, index, linktype, 0)
                        index += 1
                        captured += caplen
                        if item is not None or not skip_none:
                            yield item
                    elif btype == BT_IDB:
                        if blen < 20:
                            raise CaptureFileError(path, base + off + 4, f"interface block length {blen} below 20")
                        if len(interfaces) >= MAX_INTERFACES:
                            raise CaptureFileError(path, base + off, f"more than {MAX_INTERFACES} interfaces")
                        interfaces.append(self._interface(buf, off, end, order, base))
                    elif btype == PCAPNG_SHB:
                        if blen < 28:
                            raise CaptureFileError(path, base + off + 4, f"section header length {blen} below 28")
                        major = struct.unpack_from(order + "H", buf, off + 12)[0]
                        if major != 1:
                            raise CaptureFileError(path, base + off + 12, f"unsupported pcapng version {major}")
                        interfaces = []
                    elif index == 0 and base + off == 0:
                        raise CaptureFileError(path, 0, "pcapng file does not start with a section header")
                    off = end
                stats.frames = index
                stats.captured_bytes = captured
                need = 0
                if off + 8 <= len(buf):
                    # Only a length already checked against the cap may size a read.
                    need = min(block_head.unpack_from(buf, off)[1], MAX_BLOCK)
                buf, off, base, eof = self._fill(buf, off, base, need)
                if eof:
                    left = len(buf) - off
                    if left == 0:
                        return
                    if left < 12:
                        raise CaptureFileError(path, base + off, f"block header cut off ({left} of 12 bytes)")
                    blen = block_head.unpack_from(buf, off)[1]
                    raise CaptureFileError(path, base + off, f"block cut off ({left} of {blen} bytes)")
        finally:
            stats.frames = index
            stats.captured_bytes = captured

    def _interface(self, buf, off: int, end: int, order: str, base: int) -> tuple:
        linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", buf, off + 8)
        resol = 6
        offset_s = 0
        p = off + 16
        limit = end - 4
        opt = struct.Struct(order + "HH")
        while p + 4 <= limit:
            code, length = opt.unpack_from(buf, p)
            if code == 0:
                break
            value = p + 4
            if value + length > limit:
                raise CaptureFileError(self.path, base + p + 2, f"interface option {code} length {length} beyond its block")
            if code == OPT_IF_TSRESOL and length >= 1:
                resol = buf[value]
            elif code == OPT_IF_TSOFFSET and length >= 8:
                offset_s = struct.unpack_from(order + "q", buf, value)[0]
            p = value + ((length + 3) & ~3)
        if resol & 0x80:
            exponent = resol & 0x7F
            if exponent > 64:
                raise CaptureFileError(self.path, base + off, f"timestamp resolution 2^-{exponent} is not supported")
            mul, div, shift = 1000000000, 1, exponent
        else:
            if resol > 18:
                raise CaptureFileError(self.path, base + off, f"timestamp resolution 10^-{resol} is not supported")
            mul, div, shift = (10 ** (9 - resol), 1, 0) if resol <= 9 else (1, 10 ** (resol - 9), 0)
        return (linktype, snaplen, mul, div, shift, offset_s * 1000000000)


def _batched(items, size: int = 512) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def open_capture(path) -> CaptureReader:
    """Open and recognise a capture; raises NotACaptureError, CaptureFileError, BadInput."""
    return CaptureReader(path)


def iter_frames(path) -> Iterator[Frame]:
    """Every frame of the capture at `path`, in file order."""
    reader = CaptureReader(path)
    yield from reader.frames()


def iter_records(path, payload_prefix: int = 0, all_options: bool = False, stats: list | None = None) -> Iterator:
    """Transport records (Segment, Datagram, IcmpMessage, ArpPacket) of the capture at `path`.

    Pass a list as `stats` to receive the reader's CaptureStats as its first item.
    """
    reader = CaptureReader(path)
    if stats is not None:
        stats.append(reader.stats)
    yield from reader.records(payload_prefix, all_options)
