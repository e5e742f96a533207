/* SPDX-License-Identifier: MIT */
/*
 * Test-only fault injection for the crash-consistency tests: with
 * OVERLAYD_CRASH_AT=<point>[:<n>] in its environment the daemon kills itself
 * with SIGKILL (as a crash would: nothing is torn down, nothing saved) the
 * n-th time (default: the first) it reaches that point. Unset, every point
 * is one getenv at the first call and a compare after. Not for production:
 * it exists so a test can stop the daemon inside an exact window.
 *
 * Points (overlayd.8, ENVIRONMENT):
 *   attach-veth-created   a container's veth exists, its end has no address yet
 *   attach-host-changed   an attach has plumbed the container, before it is recorded
 *   detach-host-changed   a detach has deleted the container's links, before the record forgets it
 *   before-save           a batch has run, before the group commit writes state.json
 */
#ifndef OVL_ENGINE_CRASHPOINT_H
#define OVL_ENGINE_CRASHPOINT_H

void crashpoint(const char *point);

#endif
