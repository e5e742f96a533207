// SPDX-License-Identifier: MIT
/* firewalld's zone interface over sd-bus; see firewalld.h. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>

#include "net/bus.h"
#include "net/firewalld.h"
#include "util/log.h"

#define FIREWALLD_PATH "/org/fedoraproject/FirewallD1"
#define FIREWALLD_ZONE_IFACE "org.fedoraproject.FirewallD1.zone"
#define FIREWALLD_CONFIG_PATH "/org/fedoraproject/FirewallD1/config"
#define FIREWALLD_CONFIG_IFACE "org.fedoraproject.FirewallD1.config"

static bool same_netns_as_init(void)
{
	struct stat self, init;

	return stat("/proc/self/ns/net", &self) == 0 && stat("/proc/1/ns/net", &init) == 0 &&
	       self.st_ino == init.st_ino && self.st_dev == init.st_dev;
}

bool firewalld_manages_us(void)
{
	return same_netns_as_init() && bus_name_has_owner(FIREWALLD_BUS_NAME);
}

/* One call returning a string (zone names); out gets "" when there is none. */
static int call_s(sd_bus *bus, const char *path, const char *iface, const char *method, char *out, size_t len,
		  const char *sig, const char *a, const char *b)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	const char *s = "";
	int r = b ? sd_bus_call_method(bus, FIREWALLD_BUS_NAME, path, iface, method, &error, &reply, sig, a, b)
		  : sd_bus_call_method(bus, FIREWALLD_BUS_NAME, path, iface, method, &error, &reply, sig, a);

	if (r < 0)
		log_warn("firewalld: %s failed: %s", method, error.message ? error.message : strerror(-r));
	else if (sd_bus_message_read(reply, "s", &s) < 0)
		s = "";
	snprintf(out, len, "%s", s);
	sd_bus_error_free(&error);
	sd_bus_message_unref(reply);
	return r < 0 ? r : 0;
}

/* The zones a source is in now (runtime) and in the saved configuration (permanent), each len bytes. */
static int zones_of(sd_bus *bus, const char *source, char *runtime, char *permanent, size_t len)
{
	int r = call_s(bus, FIREWALLD_PATH, FIREWALLD_ZONE_IFACE, "getZoneOfSource", runtime, len, "s", source,
		       NULL);
	if (r < 0)
		return r;
	return call_s(bus, FIREWALLD_CONFIG_PATH, FIREWALLD_CONFIG_IFACE, "getZoneOfSource", permanent, len, "s",
		      source, NULL);
}

static int trust_op(const struct ip_prefix *p, bool add)
{
	char source[IP_PREFIX_STRLEN], runtime[64], permanent[64], ignored[64];
	struct ip_prefix net = ip_prefix_network(p);
	sd_bus *bus = NULL;
	int r = sd_bus_open_system(&bus);

	if (r < 0)
		return r;
	ip_prefix_format(&net, source, sizeof(source));
	r = zones_of(bus, source, runtime, permanent, sizeof(runtime));
	if (r == 0 && add && !runtime[0]) {
		r = call_s(bus, FIREWALLD_PATH, FIREWALLD_ZONE_IFACE, "addSource", ignored, sizeof(ignored), "ss",
			   FIREWALLD_ZONE, source);
		if (r == 0)
			log_info("firewalld: %s added to zone %s (runtime)", source, FIREWALLD_ZONE);
	} else if (r == 0 && add && strcmp(runtime, FIREWALLD_ZONE)) {
		log_warn("firewalld: %s is a source of zone %s, left there: forwarded cluster traffic follows "
			 "that zone's rules",
			 source, runtime);
	} else if (r == 0 && !add && !strcmp(runtime, FIREWALLD_ZONE) && !permanent[0]) {
		r = call_s(bus, FIREWALLD_PATH, FIREWALLD_ZONE_IFACE, "removeSource", ignored, sizeof(ignored),
			   "ss", FIREWALLD_ZONE, source);
		if (r == 0)
			log_info("firewalld: %s removed from zone %s", source, FIREWALLD_ZONE);
	}
	sd_bus_flush_close_unref(bus);
	return r;
}

int firewalld_trust(const struct ip_prefix *p)
{
	return trust_op(p, true);
}

int firewalld_untrust(const struct ip_prefix *p)
{
	return trust_op(p, false);
}
