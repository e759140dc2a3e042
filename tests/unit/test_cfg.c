/*
 * Configuration loading: the keys of DESIGN.md, defaults, relative paths,
 * and errors that name file and line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cfg.h"

static char	dir[64];
static char	path[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/moat-cfg-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof path, "%s/moat.conf", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static void
write_conf(const char *text)
{
	FILE	*f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_design_example(void **state)
{
	struct cfg	*c;
	char		*cause = NULL, want[256];

	(void)state;
	write_conf(
	    "node    = { name = \"gw1\"; };\n"
	    "smtp    = { listen = ( { address = \"127.0.0.1\"; port = 10024; "
	    "direction = \"inbound\"; },\n"
	    "  { address = \"127.0.0.1\"; port = 10026; direction = "
	    "\"outbound\"; } );\n"
	    "  next_hop = \"127.0.0.1:10025\";\n"
	    "  local_domains = [ \"example.com\" ];\n"
	    "  max_message_size = 52428800; max_recipients = 1000; };\n"
	    "control = { socket = \"/run/moat/control.sock\"; };\n"
	    "storage = { backend = \"sqlite\"; path = \"db/moat.db\";\n"
	    "  quarantine_dir = \"/var/lib/moat/quarantine\"; };\n"
	    "rules   = { dir = \"/etc/moat/rules.d\"; };\n"
	    "log     = { syslog = true; level = \"info\"; };\n"
	    "filters = { greylist = { enabled = true; };  dnsbl = { enabled = "
	    "false; }; };\n"
	    "spam    = { threshold = 5.0; };\n"
	    "dns     = { servers = [ \"127.0.0.1:53\" ]; timeout_ms = 1500; };\n"
	    "ssh     = { listen = ( { address = \"0.0.0.0\"; port = 8022; } ); "
	    "host_key_dir = \"/var/lib/moat/ssh\"; };\n");
	c = cfg_load(path, &cause);
	if (c == NULL)
		fail_msg("%s", cause);
	assert_string_equal(c->node_name, "gw1");
	assert_int_equal(c->nlisten, 2);
	assert_int_equal(c->listen[1].port, 10026);
	assert_int_equal(c->listen[1].direction, DIR_OUTBOUND);
	assert_string_equal(c->next_hop_host, "127.0.0.1");
	assert_int_equal(c->next_hop_port, 10025);
	assert_int_equal(c->nlocal_domains, 1);
	assert_int_equal(c->max_recipients, 1000);
	snprintf(want, sizeof want, "%s/db/moat.db", dir);
	assert_string_equal(c->db_path, want);
	snprintf(want, sizeof want, "%s/db/spool", dir);
	assert_string_equal(c->spool_dir, want);
	assert_true(cfg_filter_enabled(c, "greylist"));
	assert_false(cfg_filter_enabled(c, "dnsbl"));
	assert_true(cfg_filter_enabled(c, "clamav"));
	assert_true(c->spam_threshold > 4.9 && c->spam_threshold < 5.1);
	assert_int_equal(c->nssh_listen, 1);
	assert_int_equal(c->ssh_listen[0].port, 8022);
	json_decref(cfg_to_json(c));
	cfg_unref(c);
}

static void
test_defaults(void **state)
{
	struct cfg	*c;
	char		*cause = NULL;

	(void)state;
	write_conf("# nothing: every section takes its defaults\n");
	c = cfg_load(path, &cause);
	assert_non_null(c);
	assert_int_equal(c->nlisten, 1);
	assert_int_equal(c->listen[0].port, 10024);
	assert_int_equal(c->next_hop_port, 10025);
	assert_string_equal(c->control_socket, "/run/moat/control.sock");
	assert_string_equal(c->db_path, "/var/lib/moat/moat.db");
	assert_int_equal(c->control_mode, 0660);
	assert_true(cfg_net_match(c->xforward_hosts, c->nxforward_hosts,
	    "127.0.0.1"));
	assert_true(cfg_net_match(c->xforward_hosts, c->nxforward_hosts,
	    "::1"));
	assert_false(cfg_net_match(c->xforward_hosts, c->nxforward_hosts,
	    "192.0.2.1"));
	cfg_unref(c);
}

static void
expect_error(const char *text, const char *want)
{
	struct cfg	*c;
	char		*cause = NULL;

	write_conf(text);
	c = cfg_load(path, &cause);
	assert_null(c);
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("cause '%s' lacks '%s'", cause, want);
	if (strstr(cause, path) == NULL)
		fail_msg("cause '%s' lacks the file name", cause);
	free(cause);
}

static void
test_errors(void **state)
{
	(void)state;
	expect_error("smtp = {\n  bogus = 1;\n};\n",
	    ":2: unknown key 'smtp.bogus'");
	expect_error("smtp = { listen = ( { address = \"x\"; port = 1; "
	    "colour = \"red\"; } ); };\n",
	    "unknown key 'smtp.listen.[].colour'");
	expect_error("smtp = {\n max_recipients = \"many\"; };\n",
	    ":2: 'max_recipients' must be an integer");
	expect_error("smtp = { next_hop = \"nohost\"; };\n",
	    "next_hop must be host:port");
	expect_error("smtp = { listen = ( { port = 70000; } ); };\n",
	    "'port' must be between");
	expect_error("smtp = { listen = ( { direction = \"sideways\"; } ); };\n",
	    "direction must be inbound or outbound");
	expect_error("filters = { frobnicate = { enabled = true; }; };\n",
	    "unknown key 'filters.frobnicate'");
	expect_error("log = { level = \"loud\"; };\n", "level must be");
	expect_error("control = { mode = \"999\"; };\n", "octal");
	expect_error("storage = { backend = \"oracle\"; };\n",
	    "not supported");
	expect_error("smtp = { xforward_hosts = [ \"300.1.1.1/8\" ]; };\n",
	    "bad network");
	expect_error("smtp = {\n\n listen = ( ; };\n", ":3:");
}

static void
test_net_match(void **state)
{
	struct cfg	*c;
	char		*cause = NULL;

	(void)state;
	write_conf("smtp = { xforward_hosts = [ \"10.1.0.0/20\", "
	    "\"2001:db8::/33\" ]; };\n");
	c = cfg_load(path, &cause);
	assert_non_null(c);
	assert_true(cfg_net_match(c->xforward_hosts, c->nxforward_hosts,
	    "10.1.15.255"));
	assert_false(cfg_net_match(c->xforward_hosts, c->nxforward_hosts,
	    "10.1.16.0"));
	assert_true(cfg_net_match(c->xforward_hosts, c->nxforward_hosts,
	    "2001:db8:7fff::1"));
	assert_false(cfg_net_match(c->xforward_hosts, c->nxforward_hosts,
	    "2001:db8:8000::1"));
	assert_false(cfg_net_match(c->xforward_hosts, c->nxforward_hosts,
	    "not-an-address"));
	cfg_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_design_example),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_net_match),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
