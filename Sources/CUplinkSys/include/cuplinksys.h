// cuplinksys: batched datagram I/O (recvmmsg/sendmmsg), which glibc declares only under _GNU_SOURCE.
#ifndef CUPLINKSYS_H
#define CUPLINKSYS_H

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

/// Gives freed heap memory back to the system (glibc's malloc_trim; a no-op elsewhere). Returns 1 when some was.
int uplink_malloc_trim(void);

#endif
