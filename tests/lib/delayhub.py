"""A userspace Ethernet hub that delays every frame: the NAT lab's "internet".

This kernel has no netem, and a simultaneous open (both nodes' first packets
crossing) only means something when the path has a real one-way delay. Run
as `python3 delayhub.py DELAY_MS IF1 IF2 ...` inside the namespace holding
the interfaces: every frame received on one interface goes out of every
other one DELAY_MS later (a hub floods: ARP and unicast alike). A veth
hands a packet socket UDP datagrams whose checksum is left for the
hardware to complete (checksum offload; there is no ethtool here to switch
it off), so the hub completes every IPv4/IPv6 UDP checksum itself before
sending the frame on. A veth also hands it UDP GSO super-frames (one
sendmsg with UDP_SEGMENT, up to 64 KiB, as WireGuard and the TURN relay
send): read with their virtio-net header (PACKET_VNET_HDR), they are cut
into the MTU-sized datagrams a wire would carry; sent whole, the next veth
would drop them as too long. Ends on SIGTERM.
"""
import heapq
import select
import struct
import signal
import socket
import sys
import threading
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def ones_complement_sum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def fix_udp_checksum(frame):
    """The frame with its UDP checksum computed (IPv4 or IPv6, no VLAN, no fragments)."""
    if len(frame) < 14:
        return frame
    ethertype = struct.unpack("!H", frame[12:14])[0]
    if ethertype == 0x0800 and len(frame) >= 34 and frame[23] == 17:
        ihl = (frame[14] & 0x0F) * 4
        total = struct.unpack("!H", frame[16:18])[0]
        if struct.unpack("!H", frame[20:22])[0] & 0x3FFF:
            return frame  # a fragment
        udp = 14 + ihl
        ulen = total - ihl
        pseudo = frame[26:34] + struct.pack("!BBH", 0, 17, ulen)
    elif ethertype == 0x86DD and len(frame) >= 62 and frame[20] == 17:
        udp = 54
        ulen = struct.unpack("!H", frame[18:20])[0]
        pseudo = frame[22:54] + struct.pack("!IxxxB", ulen, 17)
    else:
        return frame
    if udp + ulen > len(frame) or ulen < 8:
        return frame
    seg = bytearray(frame[udp:udp + ulen])
    seg[6:8] = b"\0\0"
    csum = 0xFFFF - ones_complement_sum(pseudo + bytes(seg))
    seg[6:8] = struct.pack("!H", csum or 0xFFFF)
    return frame[:udp] + bytes(seg) + frame[udp + ulen:]


PACKET_VNET_HDR = 15  # SOL_PACKET option: frames carry a struct virtio_net_hdr (10 bytes) first
SOL_PACKET = 263
VNET_HDR = struct.Struct("=BBHHHH")  # flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
VIRTIO_NET_HDR_GSO_UDP_L4 = 5
NO_VNET = bytes(VNET_HDR.size)


def ipv4_checksum(header):
    return 0xFFFF - ones_complement_sum(header)


def split_udp_gso(frame, gso_size):
    """The datagrams of a UDP GSO super-frame, gso_size bytes of payload each (the last may be
    shorter), with their IP lengths, IPv4 header checksum and UDP lengths set (UDP checksums are
    completed by fix_udp_checksum as for any frame). A frame of another shape comes back as is."""
    ethertype = struct.unpack("!H", frame[12:14])[0] if len(frame) >= 14 else 0
    if ethertype == 0x0800 and len(frame) >= 34 and frame[23] == 17:
        udp = 14 + (frame[14] & 0x0F) * 4
    elif ethertype == 0x86DD and len(frame) >= 62 and frame[20] == 17:
        udp = 54
    else:
        return [frame]
    payload = frame[udp + 8:]
    out = []
    for off in range(0, len(payload), gso_size):
        chunk = payload[off:off + gso_size]
        ip = bytearray(frame[14:udp])
        if ethertype == 0x0800:
            ip[2:4] = struct.pack("!H", len(ip) + 8 + len(chunk))
            ip[10:12] = b"\0\0"
            ip[10:12] = struct.pack("!H", ipv4_checksum(bytes(ip)))
        else:
            ip[4:6] = struct.pack("!H", 8 + len(chunk))
        udph = frame[udp:udp + 4] + struct.pack("!HH", 8 + len(chunk), 0)
        out.append(frame[:14] + bytes(ip) + udph + chunk)
    return out


def main():
    delay = float(sys.argv[1]) / 1000.0
    names = sys.argv[2:]
    socks = []
    for name in names:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
        s.bind((name, 0))
        s.setblocking(False)
        socks.append(s)
    queue = []  # (due, seq, out_index, frame)
    lock = threading.Condition()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def sender():
        while not stop.is_set():
            with lock:
                while not queue and not stop.is_set():
                    lock.wait(0.1)
                if stop.is_set():
                    return
                due = queue[0][0]
                now = time.monotonic()
                if due > now:
                    lock.wait(due - now)
                    continue
                _, _, out, frame = heapq.heappop(queue)
            try:
                socks[out].send(NO_VNET + frame)  # a plain frame: no offload asked of the kernel
            except OSError:
                pass

    threading.Thread(target=sender, daemon=True).start()
    seq = 0
    by_fd = {s.fileno(): i for i, s in enumerate(socks)}
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN)
    print("ready", flush=True)
    while not stop.is_set():
        for fd, _ in poller.poll(100):
            i = by_fd[fd]
            while True:
                try:
                    data, addr = socks[i].recvfrom(65535 + VNET_HDR.size)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                _, gso_type, _, gso_size, _, _ = VNET_HDR.unpack_from(data)
                frame = data[VNET_HDR.size:]
                frames = split_udp_gso(frame, gso_size) if gso_type == VIRTIO_NET_HDR_GSO_UDP_L4 else [frame]
                due = time.monotonic() + delay
                with lock:
                    for f in frames:
                        f = fix_udp_checksum(f)
                        for j in range(len(socks)):
                            if j != i:
                                seq += 1
                                heapq.heappush(queue, (due, seq, j, f))
                    lock.notify()


if __name__ == "__main__":
    main()
