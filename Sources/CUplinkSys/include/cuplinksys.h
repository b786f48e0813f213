// cuplinksys: batched datagram I/O (recvmmsg/sendmmsg), which glibc declares only under _GNU_SOURCE, and the
// control messages (IP_PKTINFO) that Swift cannot build with the CMSG macros.
#ifndef CUPLINKSYS_H
#define CUPLINKSYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/// Layout-identical to glibc's struct mmsghdr (checked by a static assertion in the .c file).
struct uplink_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

/// recvmmsg with MSG_WAITFORONE: blocks for the first datagram, then takes whatever else is queued.
int uplink_recvmmsg(int fd, struct uplink_mmsghdr *msgs, unsigned int count);

/// sendmmsg.
int uplink_sendmmsg(int fd, struct uplink_mmsghdr *msgs, unsigned int count);

/// Starts loading the cache line at `p` into the caches, without waiting for it (a hint, which never faults): for a
/// lookup whose address is known well before its result is needed (the client network maps).
static inline __attribute__((always_inline)) void uplink_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/// Gives freed heap memory back to the system (glibc's malloc_trim; a no-op elsewhere). Returns 1 when some was.
int uplink_malloc_trim(void);

/// Room for one IP_PKTINFO or IPV6_PKTINFO control message (CMSG_SPACE of the larger), rounded up.
#define UPLINK_PKTINFO_SPACE 64

/// Asks the kernel to report each datagram's destination address (IP_PKTINFO on an IPv4 socket,
/// IPV6_RECVPKTINFO on an IPv6 one). Returns 0, or -1 with errno.
int uplink_enable_pktinfo(int fd, int ipv6);

/// Sets IP_FREEBIND (and IPV6_FREEBIND where the kernel has it), so the socket may bind an address that is not
/// (yet) configured on this host. Returns 0, or -1 with errno.
int uplink_enable_freebind(int fd, int ipv6);

/// From the control data `received` carries (the destination of a datagram, see `uplink_enable_pktinfo`), writes
/// into `control` (`size` octets, at least UPLINK_PKTINFO_SPACE) the control message that makes sendmsg use that
/// address as the reply's source, with the interface left to the routing table (so `ip rule from ADDR` applies).
/// Returns the control length to send, or 0 when `received` has no such message.
size_t uplink_reply_source(const struct msghdr *received, void *control, size_t size);

/// The address a datagram was sent to, from the control data `received` carries (see `uplink_enable_pktinfo`):
/// its octets into `out` (room for 16). Returns 4 or 16, or 0 when `received` has no such message.
int uplink_destination(const struct msghdr *received, uint8_t *out);

#endif
