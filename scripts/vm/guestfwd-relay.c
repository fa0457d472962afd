/*
 * guestfwd-relay: QEMU's user-mode network (libslirp) runs this once per TCP connection the
 * guest opens to the guestfwd address (`guestfwd=tcp:10.0.2.100:3240-cmd:guestfwd-relay PORT`),
 * with that connection on fd 0, and it relays bytes both ways to 127.0.0.1:PORT, passing
 * half-closes on. Built by scripts/vm/prepare into .cache/vm/bin/.
 *
 * Why not QEMU's own `guestfwd=...-tcp:HOST:PORT`: that opens one host connection at start-up and
 * funnels every guest connection into it, while each `usbip attach` needs a connection of its own.
 *
 * Why C and TCP_QUICKACK: libslirp hands the connection over as a loopback *TCP* socket pair
 * with Nagle on at its end. When the guest sends more than one segment (any USB/IP OUT transfer
 * over ~1.4 kB), slirp holds the second segment until our kernel ACKs the first, and Linux
 * delays that ACK by 40 ms. Asking for quick ACKs after every read keeps bulk OUT transfers at
 * wire speed (measured: 44 ms -> 3 ms per 2.9 kB request/response). Node cannot set TCP_QUICKACK.
 *
 * Lifetime: libslirp spawns through glib, which double-forks, so our parent is gone at once and
 * says nothing about QEMU; instead, when QEMU goes, our end of the socket pair reports EOF. After
 * the guest side has ended we wait at most LINGER_S for the server side to finish, then leave.
 *
 * fd 1 and 2 are the guest's socket too: nothing here may print.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#define BUFSIZE (256 * 1024)
#define LINGER_S 5

struct direction {
	int from, to;
	char *buf;
	size_t len, off;
	int eof;	/* `from` has ended; shut `to` down for writing once buf drains */
	int shut;	/* `to` has been shut down for writing */
};

static void quickack(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Moves what it can (both fds are non-blocking); returns -1 on a hard error. */
static int pump(struct direction *d, short revents_from)
{
	if (d->len == 0 && !d->eof && (revents_from & (POLLIN | POLLHUP | POLLERR))) {
		ssize_t n = read(d->from, d->buf, BUFSIZE);

		if (n > 0) {
			d->len = (size_t)n;
			d->off = 0;
			quickack(d->from);
		} else if (n == 0) {
			d->eof = 1;
		} else if (errno != EAGAIN && errno != EINTR) {
			return -1;
		}
	}
	if (d->len > 0) {
		ssize_t n = write(d->to, d->buf + d->off, d->len);

		if (n > 0) {
			d->off += (size_t)n;
			d->len -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			return -1;
		}
	}
	if (d->eof && d->len == 0 && !d->shut) {
		shutdown(d->to, SHUT_WR);
		d->shut = 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct timespec now, up_ended = { 0, 0 };
	long port;
	int host;

	if (argc != 2)
		return 2;
	port = strtol(argv[1], NULL, 10);
	if (port <= 0 || port > 65535)
		return 2;
	signal(SIGPIPE, SIG_IGN);

	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	host = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (host < 0 || connect(host, (struct sockaddr *)&addr, sizeof(addr)) != 0)
		return 1; /* closing fd 0 tells the guest: connection reset */
	nodelay(host);
	nodelay(0);
	quickack(0);
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	fcntl(host, F_SETFL, fcntl(host, F_GETFL) | O_NONBLOCK);

	struct direction up = { .from = 0, .to = host, .buf = malloc(BUFSIZE) };
	struct direction down = { .from = host, .to = 0, .buf = malloc(BUFSIZE) };

	if (!up.buf || !down.buf)
		return 1;
	while (!(up.shut && down.shut)) {
		struct pollfd fds[2] = { { .fd = 0 }, { .fd = host } };

		/* Read a side only when its last chunk went out; write a side only with data for it. */
		if (up.len == 0 && !up.eof)
			fds[0].events |= POLLIN;
		if (down.len > 0)
			fds[0].events |= POLLOUT;
		if (down.len == 0 && !down.eof)
			fds[1].events |= POLLIN;
		if (up.len > 0)
			fds[1].events |= POLLOUT;
		if (poll(fds, 2, 1000) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (up.eof && up_ended.tv_sec == 0)
			up_ended = now;
		if (up_ended.tv_sec != 0 && now.tv_sec - up_ended.tv_sec > LINGER_S)
			return 0;
		if ((fds[0].revents | fds[1].revents) & POLLNVAL)
			return 1;
		if (pump(&up, fds[0].revents) < 0 || pump(&down, fds[1].revents) < 0)
			return 1;
		/* A peer that reset the connection: drop both. */
		if ((fds[0].revents & POLLERR) || (fds[1].revents & POLLERR))
			return 1;
	}
	return 0;
}
