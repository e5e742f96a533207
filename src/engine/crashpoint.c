// SPDX-License-Identifier: MIT
#include "engine/crashpoint.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

static char armed[64]; /* "" = no crash point */
static unsigned long countdown = 1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void arm(void)
{
	const char *spec = getenv("OVERLAYD_CRASH_AT");
	if (!spec || !*spec)
		return;
	snprintf(armed, sizeof(armed), "%s", spec);
	char *colon = strchr(armed, ':');
	if (colon) {
		*colon = '\0';
		countdown = strtoul(colon + 1, NULL, 10);
		if (countdown == 0)
			countdown = 1;
	}
	log_warn("OVERLAYD_CRASH_AT=%s: this daemon will kill itself at crash point %s (a test-only switch)", spec,
		 armed);
}

void crashpoint(const char *point)
{
	pthread_once(&once, arm);
	if (!armed[0] || strcmp(point, armed) != 0 || --countdown > 0)
		return;
	log_error("crash point %s reached (OVERLAYD_CRASH_AT): SIGKILL", point);
	kill(getpid(), SIGKILL);
	pause();
}
