"""Live capture of one TCP or UDP port on one interface, filtered in the kernel.

    with LiveCapture("lo", 41873) as cap:      # returns once the capture is ready
                                               # (protocol="udp": the UDP port, plus the
                                               # ICMP errors quoting it)
        ...run the traffic...
    frames = cap.frames()                      # Frame records, the same as a file gives
    cap.path_description                       # how it captured, for `-v`

How, and why this way:
  - scapy opens the capture socket (its Linux L2 listen socket: AF_PACKET, SOCK_RAW),
    bound to the interface. We do not hand scapy a filter string: scapy compiles those
    with libpcap, which a machine may not have. netinspect attaches its own classic BPF
    program (`netinspect.core.bpf`) with SO_ATTACH_FILTER, or, when asked, one that
    libpcap compiled through scapy.
  - The kernel runs the filter for every packet on the interface, so unrelated traffic
    never reaches Python and cannot crowd the traced connection out of the buffer.
  - On loopback each packet passes a packet socket twice (leaving as PACKET_OUTGOING,
    arriving as PACKET_HOST); the filter rejects the outgoing copy, so each packet is
    recorded once. On other interfaces both directions are real and kept.
  - A dedicated thread only calls recvmsg() and appends (bytes, ancillary data); the
    timestamp (SO_TIMESTAMPNS) and original length (PACKET_AUXDATA) are unpacked after
    the capture stops. The receive buffer is large (SO_RCVBUFFORCE as root).
  - Ready means: socket bound, filter attached, anything queued before the filter was
    attached thrown away, and the receive thread running. Traffic starts after that.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from netinspect.adapters.privilege import RAW_PRIVILEGE_NEEDED, require_raw_privilege
from netinspect.core import bpf
from netinspect.core.errors import BadInput, PrivilegeError, RuntimeFailure
from netinspect.core.records import Frame

SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_STATISTICS = 6
TP_STATUS_CSUMNOTREADY = 1 << 3
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
ARPHRD_NONE = 0xFFFE
ARPHRD_RAWIP = 519
ETH_P_ALL = 0x0003

RECV_SIZE = 70000              # lo's MTU is 65536; GSO packets are at most 64 KiB plus headers
RCVBUF_BYTES = 32 * 1024 * 1024
POLL_SECONDS = 0.05

# Which program compiles the kernel filter. "netinspect" is the default (pure Python,
# no libpcap needed); "libpcap" asks scapy to compile the same expression with libpcap.
COMPILER_ENV = "NETINSPECT_FILTER_COMPILER"
# Set to 1 to forbid loading libpcap at all (used by the tests of the libpcap-free path).
NO_LIBPCAP_ENV = "NETINSPECT_NO_LIBPCAP"

PRIVILEGE_MESSAGE = f"capturing packets {RAW_PRIVILEGE_NEEDED}"


def check_capture_privilege() -> None:
    """Raise PrivilegeError unless this process may open a packet socket."""
    require_raw_privilege("capturing packets")


def interface_names() -> list[str]:
    return [name for _, name in socket.if_nameindex()]


def check_interface(iface: str) -> None:
    try:
        socket.if_nametoindex(iface)
    except OSError:
        known = ", ".join(interface_names()) or "none"
        raise BadInput(f"--iface {iface!r}: no such interface here; accepted: {known}") from None


def libpcap_loaded() -> bool:
    """True when libpcap is mapped into this process (read from /proc/self/maps)."""
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            return "libpcap" in maps.read()
    except OSError:
        return False


def _libpcap_program(expression: str, iface: str) -> list[bpf.Instruction]:
    """`expression` compiled by libpcap, through scapy (it loads libpcap with ctypes)."""
    from netinspect.adapters import scapy_io

    common = scapy_io.module("arch.common")
    try:
        program = common.compile_filter(expression, iface=iface)
    except ImportError as error:
        raise RuntimeFailure(f"libpcap is not available to compile the filter ({error}); "
                             f"unset {COMPILER_ENV} to use netinspect's own filter compiler") from None
    try:
        instructions = [bpf.Instruction(program.bf_insns[i].code, program.bf_insns[i].jt,
                                        program.bf_insns[i].jf, program.bf_insns[i].k)
                        for i in range(program.bf_len)]
    finally:
        try:
            common.free_filter(program)
        except Exception:  # noqa: BLE001 - freeing is best effort; the copy is ours
            pass
    bpf.validate(instructions)
    return instructions


@dataclass
class CaptureStats:
    received: int = 0           # packets the filter accepted and we read
    kernel_drops: int = 0       # packets the kernel dropped for lack of buffer (PACKET_STATISTICS)
    checksum_offloaded: int = 0 # packets whose checksum was left to offload (not an error)


@dataclass
class LiveCapture:
    """Capture TCP (or, with protocol="udp", UDP) `port` on `iface`; see the module docstring."""

    iface: str
    port: int
    compiler: str | None = None         # "netinspect" or "libpcap"; None reads COMPILER_ENV
    rcvbuf: int = RCVBUF_BYTES
    environ: dict | None = None
    protocol: str = "tcp"               # "udp" also keeps ICMP/ICMPv6 errors quoting the port

    linktype: int = field(default=0, init=False)
    program: list = field(default_factory=list, init=False)
    stats: CaptureStats = field(default_factory=CaptureStats, init=False)
    ready: threading.Event = field(default_factory=threading.Event, init=False)
    checksum_offloaded_indexes: set = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self._raw: list = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._scapy_socket = None
        self._sock: socket.socket | None = None
        self._error: BaseException | None = None
        self._last_packet = 0.0
        self._hatype = 0
        self._frames_cache: list[Frame] | None = None
        env = self.environ if self.environ is not None else os.environ
        self._no_libpcap = env.get(NO_LIBPCAP_ENV, "") not in ("", "0")
        chosen = self.compiler or env.get(COMPILER_ENV, "") or "netinspect"
        if chosen not in ("netinspect", "libpcap"):
            raise BadInput(f"{COMPILER_ENV}={chosen!r} is not a filter compiler; accepted: netinspect, libpcap")
        if chosen == "libpcap" and self._no_libpcap:
            raise BadInput(f"{COMPILER_ENV}=libpcap contradicts {NO_LIBPCAP_ENV}=1; accepted: one or the other")
        self.compiler = chosen
        if self.protocol not in ("tcp", "udp"):
            raise BadInput(f"capture protocol {self.protocol!r} is not supported; accepted: tcp, udp")

    # -- life cycle ---------------------------------------------------------------
    def __enter__(self) -> "LiveCapture":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop(quiet=0.0 if exc[0] is not None else 0.2)

    def start(self, timeout: float = 5.0) -> None:
        check_capture_privilege()
        check_interface(self.iface)
        from netinspect.adapters import scapy_io

        linux = scapy_io.module("arch.linux")
        try:
            # No filter string (scapy would compile it with libpcap) and no promiscuous
            # mode: we only need what the host itself sends and receives.
            self._scapy_socket = linux.L2ListenSocket(iface=self.iface, type=ETH_P_ALL, promisc=False)
        except PermissionError:
            raise PrivilegeError(PRIVILEGE_MESSAGE) from None
        except OSError as error:
            raise RuntimeFailure(f"cannot capture on {self.iface}: {error.strerror or error}") from None
        sock = self._scapy_socket.ins
        self._sock = sock
        try:
            self._hatype = sock.getsockname()[3]
            if self._hatype in (ARPHRD_ETHER, ARPHRD_LOOPBACK):
                link = bpf.LINK_ETHERNET
            elif self._hatype in (ARPHRD_NONE, ARPHRD_RAWIP):
                link = bpf.LINK_RAW
            else:
                raise BadInput(f"--iface {self.iface}: link type {self._hatype} is not supported; "
                               "accepted: Ethernet, loopback or raw-IP interfaces")
            self.linktype = bpf.LINKTYPES[link]
            if self.compiler == "libpcap":
                program = _libpcap_program(self.expression, self.iface)
            else:
                program = (bpf.compile_tcp_port(self.port, link) if self.protocol == "tcp"
                           else bpf.compile_udp_port(self.port, link, icmp_errors=True))
            if self.is_loopback:
                program = bpf.drop_outgoing_prefix(program)
            self.program = program
            code = bpf.pack(program)
            import ctypes  # the sock_fprog structure holds a pointer to the instructions

            buffer = ctypes.create_string_buffer(code, len(code))
            fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
            sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.rcvbuf)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            self._drain_unfiltered()
            self._read_kernel_stats()  # reading resets the kernel's counters
            sock.settimeout(POLL_SECONDS)
        except BaseException:
            self._close_socket()
            raise
        self._thread = threading.Thread(target=self._receive_loop, name=f"capture-{self.iface}-{self.port}", daemon=True)
        self._thread.start()
        if not self.ready.wait(timeout):
            self.stop(quiet=0.0)
            raise RuntimeFailure(f"the capture on {self.iface} did not become ready within {timeout:g} s")

    def _drain_unfiltered(self) -> None:
        """Throw away what was queued between bind and SO_ATTACH_FILTER (unfiltered)."""
        assert self._sock is not None
        self._sock.setblocking(False)
        for _ in range(1_000_000):
            try:
                self._sock.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                break

    def _receive_loop(self) -> None:
        sock = self._sock
        assert sock is not None
        recvmsg = sock.recvmsg
        append = self._raw.append
        stop = self._stop.is_set
        monotonic = time.monotonic
        self.ready.set()
        try:
            while not stop():
                try:
                    data, ancdata, _flags, address = recvmsg(RECV_SIZE, 256)
                except (socket.timeout, InterruptedError):
                    continue
                append((data, ancdata, address[2]))
                self._last_packet = monotonic()
        except OSError as error:  # the socket went away under us
            if not self._stop.is_set():
                self._error = error

    def stop(self, quiet: float = 0.2, max_wait: float = 3.0) -> None:
        """Stop once no packet has arrived for `quiet` seconds (at most `max_wait`).

        The quiet period lets the last segments (the final ACK, a late retransmission)
        arrive after the program that made the traffic has returned.
        """
        if self._thread is None:
            self._close_socket()
            return
        started = time.monotonic()
        while quiet > 0 and time.monotonic() - started < max_wait:
            since_last = time.monotonic() - max(self._last_packet, started)
            if since_last >= quiet:
                break
            time.sleep(min(quiet - since_last, 0.05) + 0.001)
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._thread = None
        if self._sock is not None:
            # Whatever is still queued was captured before the stop: keep it.
            self._sock.setblocking(False)
            for _ in range(1_000_000):
                try:
                    data, ancdata, _flags, address = self._sock.recvmsg(RECV_SIZE, 256)
                except (BlockingIOError, InterruptedError, OSError):
                    break
                self._raw.append((data, ancdata, address[2]))
            self._read_kernel_stats()
        self._close_socket()
        if self._error is not None:
            raise RuntimeFailure(f"capture on {self.iface} failed: {self._error}")

    def _read_kernel_stats(self) -> None:
        if self._sock is None:
            return
        try:
            packets, drops = struct.unpack("II", self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        except OSError:
            return
        if self.ready.is_set():
            self.stats.kernel_drops += drops

    def _close_socket(self) -> None:
        if self._scapy_socket is not None:
            try:
                self._scapy_socket.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        self._scapy_socket = None
        self._sock = None

    # -- results ------------------------------------------------------------------
    @property
    def is_loopback(self) -> bool:
        return self._hatype == ARPHRD_LOOPBACK

    @property
    def expression(self) -> str:
        if self.protocol == "udp":
            return bpf.udp_expression(self.port, icmp_errors=True)
        return f"tcp port {self.port}"

    @property
    def short_expression(self) -> str:
        """The filter in words, for one-line headers (`expression` is libpcap's full text)."""
        if self.protocol == "udp":
            return f"udp port {self.port} + ICMP errors quoting it"
        return self.expression

    @property
    def packet_count(self) -> int:
        return len(self._raw)

    def frames(self) -> list[Frame]:
        """The captured frames so far, in arrival order (safe to call while capturing)."""
        raw = list(self._raw)
        frames = []
        offloaded = set()
        for index, (data, ancdata, _pkttype) in enumerate(raw):
            ts_ns = 0
            orig_len = len(data)
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                    seconds, nanos = struct.unpack("qq", payload[:16])
                    ts_ns = seconds * 1_000_000_000 + nanos
                elif level == SOL_PACKET and kind == PACKET_AUXDATA and len(payload) >= 12:
                    status, length, _snaplen = struct.unpack("III", payload[:12])
                    orig_len = max(length, len(data))
                    if status & TP_STATUS_CSUMNOTREADY:
                        offloaded.add(index)
            if ts_ns == 0:
                ts_ns = time.time_ns()
            frames.append(Frame(ts_ns=ts_ns, linktype=self.linktype, data=data, orig_len=orig_len, index=index))
        self.checksum_offloaded_indexes = offloaded
        self.stats.received = len(frames)
        self.stats.checksum_offloaded = len(offloaded)
        return frames

    @property
    def path_description(self) -> str:
        compiler = ("compiled by netinspect (libpcap not used)" if self.compiler == "netinspect"
                    else "compiled by libpcap through scapy")
        parts = [f"scapy L2 socket (AF_PACKET) on {self.iface}",
                 f"kernel cBPF filter \"{self.expression}\" ({len(self.program)} instructions) {compiler}"]
        if self.is_loopback:
            parts.append("outgoing loopback copies dropped in the filter (SKF_AD_PKTTYPE)")
        parts.append(f"receive buffer {self.rcvbuf // (1024 * 1024)} MiB, raw receive thread, decoding after capture")
        return "capture: " + ", ".join(parts)

    def summary_fields(self) -> dict:
        return {"iface": self.iface, "filter": self.expression, "compiler": self.compiler,
                "linktype": self.linktype, "loopback_dedup": self.is_loopback,
                "packets": self.stats.received, "kernel_drops": self.stats.kernel_drops,
                "checksum_offloaded": self.stats.checksum_offloaded}


def analyse_frames(frames, keep_segments: bool = True):
    """The shared pipeline: frames -> decode -> tracker. Returns (tracker, segment count).

    Live capture and file review feed the same decoder and tracker; only the source of
    the frames differs.
    """
    from netinspect.core.tracker import ConnectionTracker
    from netinspect.wire.decode import decode_frame

    tracker = ConnectionTracker(keep_segments=keep_segments)
    segments = 0
    for frame in frames:
        segment = decode_frame(frame).segment
        if segment is not None:
            segments += 1
            tracker.feed(segment)
    tracker.finish()
    return tracker, segments


def route_interface(ip: str, family: int) -> str:
    """The interface the kernel would send to `ip` from (lo when `ip` is one of ours)."""
    probe = socket.socket(family, socket.SOCK_DGRAM)
    try:
        probe.connect((ip, 9))          # UDP connect: a route lookup, no packet is sent
        source = probe.getsockname()[0]
    except OSError as error:
        raise RuntimeFailure(f"no route to {ip}: {error.strerror or error}") from None
    finally:
        probe.close()
    import netifaces

    local_owner = None
    source_owner = None
    for name in interface_names():
        try:
            addresses = netifaces.ifaddresses(name).get(netifaces.AF_INET6 if family == socket.AF_INET6 else netifaces.AF_INET, [])
        except ValueError:
            continue
        for entry in addresses:
            address = entry.get("addr", "").split("%", 1)[0]
            if address == ip:
                local_owner = name
            if address == source:
                source_owner = name
    if local_owner is not None or ip == source:
        # Traffic to one of this host's own addresses goes through loopback.
        return "lo"
    if source_owner is None:
        raise RuntimeFailure(f"cannot tell which interface reaches {ip} (source {source}); name it with --iface")
    return source_owner
