/*
 * usbtest-run: drive the Linux `usbtest` driver's test cases against a Gadget Zero device.
 *
 * Finds the device bound to usbtest (by default the first one with idVendor 0525 and
 * idProduct a4a0 under /sys/bus/usb/devices), opens its usbfs node /dev/bus/usb/BBB/DDD and,
 * for each test number on the command line, asks the usbtest driver (through usbfs's
 * USBDEVFS_IOCTL pass-through to interface 0) to run that test case.
 *
 *   usbtest-run [options] TEST [TEST...] [options] [TEST...]
 *
 * Options set the parameters for the test numbers that follow them:
 *   -c N    iterations (default 16)
 *   -s N    length in bytes (default 512)
 *   -v N    vary (default 0)
 *   -g N    sglen, the queue depth of the queued tests (default 16)
 *   -i N    interface number (default 0)
 *   -D PATH usbfs node to open instead of looking the device up
 *   -d VVVV:PPPP  vendor:product to look up (default 0525:a4a0)
 *
 * Prints "test N: ok (S.SSSSSS s)" or "test N: FAIL <errno> (<message>)" per test and exits 0
 * when every test passed, 1 when one failed, 2 on usage or device errors.
 *
 * Built static (`gcc -static -O2`) by scripts/vm/prepare so it runs inside the test guest.
 * The ioctl ABI was checked against Debian's 6.1 usbtest.ko: the 64-bit parameter block is five
 * u32 inputs followed by two s64 outputs (40 bytes), request code _IOWR('U', 100, 40 bytes)
 * = 0xc0285564.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/usbdevice_fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* The usbtest driver's parameter block (its 64-bit layout). */
struct usbtest_params {
	/* inputs */
	uint32_t test_num;
	uint32_t iterations;
	uint32_t length;
	uint32_t vary;
	uint32_t sglen;
	/* outputs, filled in by the driver */
	int64_t duration_sec;
	int64_t duration_usec;
};

_Static_assert(sizeof(struct usbtest_params) == 40, "usbtest parameter block must be 40 bytes");

#define USBTEST_REQUEST _IOWR('U', 100, struct usbtest_params)

_Static_assert(USBTEST_REQUEST == 0xc0285564u, "unexpected USBTEST_REQUEST code");

static int read_sysfs(const char *dir, const char *name, char *out, size_t size)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(out, (int)size, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

/* Finds the first USB device with the given ids; fills its usbfs path and sysfs name. */
static int find_device(const char *vid, const char *pid, char *node, size_t node_size, char *name,
		       size_t name_size)
{
	const char *base = "/sys/bus/usb/devices";
	DIR *dir = opendir(base);
	struct dirent *entry;
	int found = -1;

	if (!dir) {
		fprintf(stderr, "usbtest-run: cannot open %s: %s\n", base, strerror(errno));
		return -1;
	}
	while ((entry = readdir(dir)) != NULL) {
		char devdir[PATH_MAX], v[16], p[16], bus[16], dev[16];

		if (entry->d_name[0] == '.' || strchr(entry->d_name, ':'))
			continue; /* interfaces look like 1-1:1.0 */
		snprintf(devdir, sizeof(devdir), "%s/%s", base, entry->d_name);
		if (read_sysfs(devdir, "idVendor", v, sizeof(v)) || read_sysfs(devdir, "idProduct", p, sizeof(p)))
			continue;
		if (strcasecmp(v, vid) != 0 || strcasecmp(p, pid) != 0)
			continue;
		if (read_sysfs(devdir, "busnum", bus, sizeof(bus)) || read_sysfs(devdir, "devnum", dev, sizeof(dev)))
			continue;
		snprintf(node, node_size, "/dev/bus/usb/%03d/%03d", atoi(bus), atoi(dev));
		snprintf(name, name_size, "%s", entry->d_name);
		found = 0;
		break;
	}
	closedir(dir);
	return found;
}

/* The driver bound to interface IFNO of the device's active configuration, or "" when none is. */
static void interface_driver(const char *name, int ifno, char *out, size_t size)
{
	char devdir[PATH_MAX], config[16], link[PATH_MAX + 64], target[PATH_MAX];
	ssize_t n;
	const char *slash;

	out[0] = '\0';
	snprintf(devdir, sizeof(devdir), "/sys/bus/usb/devices/%s", name);
	if (read_sysfs(devdir, "bConfigurationValue", config, sizeof(config)) || !config[0])
		return; /* unconfigured */
	/* Interface directories are named DEVICE:CONFIG.IFNO. */
	snprintf(link, sizeof(link), "%s:%s.%d/driver", devdir, config, ifno);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return;
	target[n] = '\0';
	slash = strrchr(target, '/');
	snprintf(out, size, "%s", slash ? slash + 1 : target);
}

static unsigned long parse_number(const char *text, const char *what)
{
	char *end;
	unsigned long value;

	errno = 0;
	value = strtoul(text, &end, 0);
	if (errno || *text == '\0' || *end != '\0' || value > UINT32_MAX) {
		fprintf(stderr, "usbtest-run: bad %s: %s\n", what, text);
		exit(2);
	}
	return value;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: usbtest-run [-D /dev/bus/usb/BBB/DDD | -d VVVV:PPPP] [-i IFNO]\n"
		"                   [-c ITERATIONS] [-s LENGTH] [-v VARY] [-g SGLEN] TEST... [options TEST...]\n"
		"options apply to the test numbers after them\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct usbtest_params params = { .iterations = 16, .length = 512, .vary = 0, .sglen = 16 };
	char node[PATH_MAX] = "", name[PATH_MAX] = "", vid[8] = "0525", pid[8] = "a4a0";
	int ifno = 0, fd = -1, failures = 0, tests = 0;

	if (argc < 2)
		usage();

	/* First pass: device selection options, which apply to the whole run. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-D") == 0 && i + 1 < argc) {
			snprintf(node, sizeof(node), "%s", argv[++i]);
		} else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
			const char *colon = strchr(argv[++i], ':');

			if (!colon || colon - argv[i] != 4 || strlen(colon + 1) != 4)
				usage();
			snprintf(vid, sizeof(vid), "%.4s", argv[i]);
			snprintf(pid, sizeof(pid), "%.4s", colon + 1);
		} else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc) {
			ifno = (int)parse_number(argv[++i], "interface");
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage();
		}
	}

	if (!node[0]) {
		char driver[PATH_MAX];

		if (find_device(vid, pid, node, sizeof(node), name, sizeof(name)) != 0) {
			fprintf(stderr, "usbtest-run: no USB device %s:%s in /sys/bus/usb/devices\n", vid, pid);
			return 2;
		}
		interface_driver(name, ifno, driver, sizeof(driver));
		if (strcmp(driver, "usbtest") != 0) {
			fprintf(stderr, "usbtest-run: interface %d of %s (%s:%s) is bound to %s, not usbtest\n", ifno,
				name, vid, pid, driver[0] ? driver : "no driver");
			return 2;
		}
	}

	fd = open(node, O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "usbtest-run: cannot open %s: %s\n", node, strerror(errno));
		return 2;
	}
	printf("usbtest-run: %s%s%s interface %d\n", node, name[0] ? " = " : "", name, ifno);
	fflush(stdout);

	/* Second pass: parameters and test numbers, in order. */
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (arg[0] == '-') {
			if (i + 1 >= argc)
				usage();
			const char *value = argv[++i];

			if (strcmp(arg, "-c") == 0)
				params.iterations = (uint32_t)parse_number(value, "iterations");
			else if (strcmp(arg, "-s") == 0)
				params.length = (uint32_t)parse_number(value, "length");
			else if (strcmp(arg, "-v") == 0)
				params.vary = (uint32_t)parse_number(value, "vary");
			else if (strcmp(arg, "-g") == 0)
				params.sglen = (uint32_t)parse_number(value, "sglen");
			else if (strcmp(arg, "-D") && strcmp(arg, "-d") && strcmp(arg, "-i"))
				usage();
			continue;
		}

		struct usbtest_params run = params;
		struct usbdevfs_ioctl request = { .ifno = ifno, .ioctl_code = (int)USBTEST_REQUEST, .data = &run };
		struct timespec start, end;

		run.test_num = (uint32_t)parse_number(arg, "test number");
		run.duration_sec = run.duration_usec = 0;
		printf("test %u: running (iterations %u, length %u, vary %u, sglen %u)\n", run.test_num,
		       run.iterations, run.length, run.vary, run.sglen);
		fflush(stdout);
		tests++;
		clock_gettime(CLOCK_MONOTONIC, &start);
		int rc = ioctl(fd, USBDEVFS_IOCTL, &request);
		int saved = errno;
		clock_gettime(CLOCK_MONOTONIC, &end);

		if (rc < 0) {
			failures++;
			printf("test %u: FAIL %d (%s) after %.3f s\n", run.test_num, saved, strerror(saved),
			       (double)(end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9);
		} else {
			printf("test %u: ok (%lld.%06lld s)\n", run.test_num, (long long)run.duration_sec,
			       (long long)run.duration_usec);
		}
		fflush(stdout);
	}

	close(fd);
	if (tests == 0)
		usage();
	printf("usbtest-run: %d of %d tests failed\n", failures, tests);
	return failures ? 1 : 0;
}
