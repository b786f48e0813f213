// cuplinksys: thin wrappers so Swift can call recvmmsg/sendmmsg (GNU extensions) without _GNU_SOURCE itself, and
// build the IP_PKTINFO control messages that the CMSG macros make (macros Swift does not import).
#define _GNU_SOURCE
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include "cuplinksys.h"

_Static_assert(sizeof(struct uplink_mmsghdr) == sizeof(struct mmsghdr), "mmsghdr layout");
_Static_assert(offsetof(struct uplink_mmsghdr, msg_len) == offsetof(struct mmsghdr, msg_len), "mmsghdr layout");
_Static_assert(CMSG_SPACE(sizeof(struct in6_pktinfo)) <= UPLINK_PKTINFO_SPACE, "pktinfo space");
_Static_assert(CMSG_SPACE(sizeof(struct in_pktinfo)) <= UPLINK_PKTINFO_SPACE, "pktinfo space");

int uplink_recvmmsg(int fd, struct uplink_mmsghdr *msgs, unsigned int count) {
    return recvmmsg(fd, (struct mmsghdr *)msgs, count, MSG_WAITFORONE, NULL);
}

int uplink_sendmmsg(int fd, struct uplink_mmsghdr *msgs, unsigned int count) {
    return sendmmsg(fd, (struct mmsghdr *)msgs, count, 0);
}

#ifdef __GLIBC__
#include <malloc.h>
int uplink_malloc_trim(void) { return malloc_trim(0); }
#else
int uplink_malloc_trim(void) { return 0; }
#endif

int uplink_enable_pktinfo(int fd, int ipv6) {
    int one = 1;
    if (ipv6) return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
    return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
}

int uplink_enable_freebind(int fd, int ipv6) {
    int one = 1;
    // IP_FREEBIND also covers IPv6 sockets on Linux; IPV6_FREEBIND (4.15+) is set too where it exists.
    int rc = setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
#ifdef IPV6_FREEBIND
    if (ipv6 && rc == 0) (void)setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one);
#else
    (void)ipv6;
#endif
    return rc;
}

/// Writes one control message (`level`, `type`, `len` octets of `data`) at the start of `control`; returns its space.
static size_t put_cmsg(void *control, size_t size, int level, int type, const void *data, size_t len) {
    struct msghdr out;
    memset(&out, 0, sizeof out);
    memset(control, 0, size);
    out.msg_control = control;
    out.msg_controllen = size;
    struct cmsghdr *o = CMSG_FIRSTHDR(&out);
    o->cmsg_level = level;
    o->cmsg_type = type;
    o->cmsg_len = CMSG_LEN(len);
    memcpy(CMSG_DATA(o), data, len);
    return CMSG_SPACE(len);
}

size_t uplink_reply_source(const struct msghdr *received, void *control, size_t size) {
    if (size < UPLINK_PKTINFO_SPACE || received->msg_control == NULL) return 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)received); c != NULL;
         c = CMSG_NXTHDR((struct msghdr *)received, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo in;
            memcpy(&in, CMSG_DATA(c), sizeof in);
            struct in_pktinfo reply;
            memset(&reply, 0, sizeof reply);
            // The local address the kernel took the datagram for: the address asked, for a unicast query (for a
            // broadcast one, the interface's address, which can send where the broadcast address cannot).
            reply.ipi_spec_dst = in.ipi_spec_dst;
            reply.ipi_ifindex = 0;             // routing picks the interface, so source-routing rules apply
            return put_cmsg(control, size, IPPROTO_IP, IP_PKTINFO, &reply, sizeof reply);
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo in6;
            memcpy(&in6, CMSG_DATA(c), sizeof in6);
            // A link-local destination needs its interface to mean anything; any other address is routed.
            if (!IN6_IS_ADDR_LINKLOCAL(&in6.ipi6_addr)) in6.ipi6_ifindex = 0;
            return put_cmsg(control, size, IPPROTO_IPV6, IPV6_PKTINFO, &in6, sizeof in6);
        }
    }
    return 0;
}

int uplink_destination(const struct msghdr *received, uint8_t *out) {
    if (received->msg_control == NULL) return 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)received); c != NULL;
         c = CMSG_NXTHDR((struct msghdr *)received, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo in;
            memcpy(&in, CMSG_DATA(c), sizeof in);
            memcpy(out, &in.ipi_addr, 4);  // the header's destination: the address the client asked
            return 4;
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo in6;
            memcpy(&in6, CMSG_DATA(c), sizeof in6);
            memcpy(out, &in6.ipi6_addr, 16);
            return 16;
        }
    }
    return 0;
}
