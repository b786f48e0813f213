// cuplinksys: thin wrappers so Swift can call recvmmsg/sendmmsg (GNU extensions) without _GNU_SOURCE itself.
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/socket.h>
#include "cuplinksys.h"

_Static_assert(sizeof(struct uplink_mmsghdr) == sizeof(struct mmsghdr), "mmsghdr layout");
_Static_assert(offsetof(struct uplink_mmsghdr, msg_len) == offsetof(struct mmsghdr, msg_len), "mmsghdr layout");

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
