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
/* o[key] as an integer, or 0 when absent or not one. */
json_int_t ctl_int(json_t *o, const char *key);

enum ctl_color { CTL_RESET, CTL_BOLD, CTL_RED, CTL_GREEN };
/* The escape sequence for c when stdout (stderr) is a terminal and NO_COLOR is unset; else "". */
const char *ctl_color(enum ctl_color c);
const char *ctl_color_err(enum ctl_color c);

/* One request on a fresh connection: its response object (new reference), or NULL after reporting. */
json_t *ctl_request(const char *path, json_t *request);
/* The same for a request that is its op alone ({"op": op}). */
json_t *ctl_request_op(const char *path, const char *op);
/* `overlayctl <op> key=value ...`: one request, its response printed. argv[0] is the op. */
int ctl_op(const char *path, bool raw, int argc, char **argv);
/* Prints a response (answer.c): one line, a table for status, raw with --json. The exit status. */
int ctl_print_response(json_t *response, bool raw);
/* The status response as tables (status.c): all of it, or one table. */
void ctl_print_status(json_t *status);
/* `overlayctl nat`: nat_status as tables (nat.c; --json: the response). */
int ctl_nat(const char *path, bool raw);
void ctl_print_peers(json_t *status);
void ctl_print_services(json_t *status);
void ctl_print_attachments(json_t *status);
/* `overlayctl peers | services | attachments`: one table of the status (--json: that array). */
int ctl_show(const char *path, bool raw, const char *what);
/* `overlayctl watch`: prints events until interrupted. */
int ctl_watch(const char *path, bool raw);
/* `overlayctl bench [options]`: request rate; argv[0] is "bench". */
int ctl_bench(const char *path, int argc, char **argv);

#endif
