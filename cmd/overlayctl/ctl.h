/* SPDX-License-Identifier: MIT */
/* overlayctl's subcommands (one file each) and the helpers they share. */
#ifndef OVL_CMD_OVERLAYCTL_CTL_H
#define OVL_CMD_OVERLAYCTL_CTL_H

#include <jansson.h>
#include <stdbool.h>

/* Connects to the control socket; reports a failure on stderr. The fd, or -errno. */
int ctl_connect(const char *path);
/* o[key] as a string, or "-" when absent or not a string. */
const char *ctl_str_or_dash(json_t *o, const char *key);

/* `overlayctl <op> key=value ...`: one request, its response printed. argv[0] is the op. */
int ctl_op(const char *path, bool raw, int argc, char **argv);
/* Prints a status response as a table (status.c). */
void ctl_print_status(json_t *status);
/* Prints a nat_status response as tables (nat.c). */
void ctl_print_nat(json_t *nat_status);
/* `overlayctl watch`: prints events until interrupted. */
int ctl_watch(const char *path, bool raw);
/* `overlayctl bench [options]`: request rate; argv[0] is "bench". */
int ctl_bench(const char *path, int argc, char **argv);

#endif
