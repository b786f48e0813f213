// reflector: the socket floor for the benchmark. recvmmsg a batch of queries, set QR, sendmmsg them back.
// Nothing that answers DNS from a UDP socket can cost less per query; every server is reported as a multiple of it.
// Usage: reflector PORT   (binds 127.0.0.1:PORT, one thread)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 32
#define SIZE 4096

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: reflector PORT\n"); return 2; }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { perror("bind"); return 1; }
    static unsigned char buf[BATCH][SIZE];
    static struct sockaddr_storage from[BATCH];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    fprintf(stderr, "reflector listening on udp 127.0.0.1:%s\n", argv[1]);
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = buf[i];
            iov[i].iov_len = SIZE;
            memset(&msgs[i], 0, sizeof msgs[i]);
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof from[i];
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0) continue;
        for (int i = 0; i < n; i++) {
            if (msgs[i].msg_len >= 3) buf[i][2] |= 0x80;  // QR
            iov[i].iov_len = msgs[i].msg_len;
        }
        int sent = 0;
        while (sent < n) {
            int r = sendmmsg(fd, msgs + sent, n - sent, 0);
            if (r <= 0) break;
            sent += r;
        }
    }
}
