/*
 * Unit tests for the control protocol (shared/proto.c) and the daemon's
 * dispatcher (daemon/ctl.c, ctl_dispatch): framing with its limit, request
 * validation, roles, error shapes, and the command table, without an event
 * loop. Commands that read the store answer "unavailable" here (no pool),
 * which shows their request passed every check.
 */
#include <limits.h>
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
#include "ctl.h"
#include "log.h"
#include "proto.h"
#include "xmalloc.h"

/* --- helpers ------------------------------------------------------------ */

static json_t *
run(enum proto_role role, const char *line)
{
	json_t	*a;

	a = ctl_dispatch(0, role, line, strlen(line));
	assert_non_null(a);
	return a;
}

/* The error code of an answer, checking the error shape on the way. */
static const char *
err_code(json_t *a)
{
	json_t	*e;

	assert_true(json_is_false(json_object_get(a, "ok")));
	assert_non_null(json_object_get(a, "id"));
	assert_null(json_object_get(a, "result"));
	e = json_object_get(a, "error");
	assert_true(json_is_object(e));
	assert_true(json_is_string(json_object_get(e, "message")));
	assert_true(json_is_string(json_object_get(e, "code")));
	return json_string_value(json_object_get(e, "code"));
}

static const char *
err_field(json_t *a, const char *field)
{
	return json_string_value(json_object_get(json_object_get(a, "error"),
	    field));
}

static void
assert_error(enum proto_role role, const char *line, const char *code)
{
	json_t	*a = run(role, line);

	assert_string_equal(err_code(a), code);
	json_decref(a);
}

/* --- roles ---------------------------------------------------------------- */

static void
test_roles(void **state)
{
	static const char *const names[] = {
		"none", "user", "auditor", "qmanager", "admin"
	};
	enum proto_role	r;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		assert_string_equal(proto_role_name((enum proto_role)i),
		    names[i]);
		assert_int_equal(proto_role_parse(names[i], &r), 0);
		assert_int_equal(r, (enum proto_role)i);
	}
	assert_int_equal(proto_role_parse("root", &r), -1);
	assert_string_equal(proto_role_name((enum proto_role)99), "unknown");

	assert_true(PROTO_ROLE_ADMIN > PROTO_ROLE_QMANAGER);
	assert_true(PROTO_ROLE_QMANAGER > PROTO_ROLE_AUDITOR);
	assert_true(PROTO_ROLE_AUDITOR > PROTO_ROLE_USER);
	assert_true(PROTO_ROLE_USER > PROTO_ROLE_NONE);
	assert_true(proto_role_allows(PROTO_ROLE_ADMIN, PROTO_ROLE_AUDITOR));
	assert_true(proto_role_allows(PROTO_ROLE_AUDITOR, PROTO_ROLE_AUDITOR));
	assert_false(proto_role_allows(PROTO_ROLE_AUDITOR, PROTO_ROLE_ADMIN));
	assert_false(proto_role_allows(PROTO_ROLE_USER, PROTO_ROLE_AUDITOR));
	/* No role never runs anything, not even a "none" command. */
	assert_false(proto_role_allows(PROTO_ROLE_NONE, PROTO_ROLE_NONE));
}

/* --- framing -------------------------------------------------------------- */

static void
test_frame_lines(void **state)
{
	struct proto_frame	 f;
	const char		*in = "{\"a\":1}\r\n\n{\"b\":2}\nrest";
	size_t			 used, off = 0;

	(void)state;
	proto_frame_init(&f, 64);
	assert_int_equal(proto_frame_push(&f, in, strlen(in), &used),
	    PROTO_FRAME_LINE);
	assert_string_equal(f.line.data, "{\"a\":1}");	/* \r removed */
	assert_int_equal(f.line.len, 7);
	off += used;
	assert_int_equal(proto_frame_push(&f, in + off, strlen(in) - off,
	    &used), PROTO_FRAME_LINE);
	assert_int_equal(f.line.len, 0);		/* an empty line */
	off += used;
	assert_int_equal(proto_frame_push(&f, in + off, strlen(in) - off,
	    &used), PROTO_FRAME_LINE);
	assert_string_equal(f.line.data, "{\"b\":2}");
	off += used;
	assert_int_equal(proto_frame_push(&f, in + off, strlen(in) - off,
	    &used), PROTO_FRAME_MORE);
	assert_int_equal(off + used, strlen(in));
	assert_int_equal(proto_frame_pending(&f), 4);
	/* The rest of the line arrives byte by byte. */
	assert_int_equal(proto_frame_push(&f, "X", 1, &used),
	    PROTO_FRAME_MORE);
	assert_int_equal(proto_frame_push(&f, "\n", 1, &used),
	    PROTO_FRAME_LINE);
	assert_string_equal(f.line.data, "restX");
	assert_int_equal(proto_frame_pending(&f), 0);
	proto_frame_free(&f);
}

static void
test_frame_limit(void **state)
{
	struct proto_frame	 f;
	char			 big[100];
	size_t			 used;

	(void)state;
	proto_frame_init(&f, 10);
	/* Exactly at the limit is fine. */
	assert_int_equal(proto_frame_push(&f, "0123456789\n", 11, &used),
	    PROTO_FRAME_LINE);
	assert_int_equal(used, 11);
	assert_int_equal(f.line.len, 10);

	/* Over it in one piece, newline included: dropped, next line ok. */
	assert_int_equal(proto_frame_push(&f, "0123456789A\nok\n", 15, &used),
	    PROTO_FRAME_TOO_LARGE);
	assert_int_equal(used, 12);
	assert_int_equal(proto_frame_push(&f, "ok\n", 3, &used),
	    PROTO_FRAME_LINE);
	assert_string_equal(f.line.data, "ok");

	/* Over it across pushes: reported once, then discarded silently up
	 * to the newline, whatever the chunks. */
	memset(big, 'x', sizeof big);
	assert_int_equal(proto_frame_push(&f, big, 6, &used),
	    PROTO_FRAME_MORE);
	assert_int_equal(proto_frame_push(&f, big, 6, &used),
	    PROTO_FRAME_TOO_LARGE);
	assert_int_equal(used, 6);
	assert_int_equal(proto_frame_push(&f, big, sizeof big, &used),
	    PROTO_FRAME_MORE);
	assert_int_equal(used, sizeof big);
	assert_int_equal(proto_frame_push(&f, "yyy\nnext\n", 9, &used),
	    PROTO_FRAME_LINE);
	assert_string_equal(f.line.data, "next");
	assert_int_equal(used, 9);
	proto_frame_free(&f);
}

/* --- requests ------------------------------------------------------------- */

static void
parse_fails(const char *line, const char *code, bool has_id)
{
	struct proto_request	 r;
	const char		*c;
	char			*cause = NULL;

	assert_int_equal(proto_request_parse(line, strlen(line), &r, &c,
	    &cause), -1);
	assert_string_equal(c, code);
	assert_non_null(cause);
	if (has_id)
		assert_non_null(r.id);
	else
		assert_null(r.id);
	free(cause);
	proto_request_clear(&r);
}

static void
test_request_parse(void **state)
{
	struct proto_request	 r;
	const char		*code, *line;
	char			*cause = NULL;

	(void)state;
	line = "{\"id\":7,\"cmd\":\"status\",\"args\":{\"a\":1}}";
	assert_int_equal(proto_request_parse(line, strlen(line), &r, &code,
	    &cause), 0);
	assert_int_equal(json_integer_value(r.id), 7);
	assert_string_equal(r.cmd, "status");
	assert_int_equal(json_integer_value(json_object_get(r.args, "a")), 1);
	proto_request_clear(&r);

	/* No id and no args: both are optional. */
	line = "{\"cmd\":\"status\"}";
	assert_int_equal(proto_request_parse(line, strlen(line), &r, &code,
	    &cause), 0);
	assert_null(r.id);
	assert_true(json_is_object(r.args));
	proto_request_clear(&r);

	parse_fails("not json", PROTO_E_BAD_REQUEST, false);
	parse_fails("{\"id\":1,", PROTO_E_BAD_REQUEST, false);
	parse_fails("[1,2]", PROTO_E_BAD_REQUEST, false);
	parse_fails("{\"id\":1}", PROTO_E_BAD_REQUEST, true);
	parse_fails("{\"id\":1,\"cmd\":5}", PROTO_E_BAD_REQUEST, true);
	parse_fails("{\"id\":\"x\",\"cmd\":\"status\",\"args\":[]}",
	    PROTO_E_BAD_REQUEST, true);
	parse_fails("{\"id\":1,\"cmd\":\"status\",\"extra\":1}",
	    PROTO_E_BAD_REQUEST, true);
	parse_fails("{\"id\":{},\"cmd\":\"status\"}", PROTO_E_BAD_REQUEST,
	    false);
	parse_fails("{\"id\":1,\"cmd\":\"a\",\"cmd\":\"b\"}",
	    PROTO_E_BAD_REQUEST, false);
	parse_fails("{\"id\":1,\"cmd\":\"status\"} {}", PROTO_E_BAD_REQUEST,
	    false);
}

static void
test_args_check(void **state)
{
	static const struct proto_arg schema[] = {
		{ .key = "name", .type = PROTO_T_STRING, .required = true },
		{ .key = "n", .type = PROTO_T_INTEGER },
		{ .key = "flag", .type = PROTO_T_BOOLEAN },
		{ .key = NULL },
	};
	const char	*key;
	char		*cause;
	json_t		*a;

	(void)state;
	a = json_pack("{s:s, s:i, s:b}", "name", "x", "n", 3, "flag", 1);
	assert_int_equal(proto_args_check(schema, a, &key, &cause), 0);
	json_decref(a);

	a = json_pack("{s:s, s:n}", "name", "x", "n");	/* null: absent */
	assert_int_equal(proto_args_check(schema, a, &key, &cause), 0);
	json_decref(a);

	a = json_pack("{s:s, s:s}", "name", "x", "n", "3");
	assert_int_equal(proto_args_check(schema, a, &key, &cause), -1);
	assert_string_equal(key, "n");
	assert_non_null(strstr(cause, "integer"));
	free(cause);
	json_decref(a);

	a = json_pack("{s:s, s:f}", "name", "x", "n", 3.0);
	assert_int_equal(proto_args_check(schema, a, &key, &cause), -1);
	assert_string_equal(key, "n");
	free(cause);
	json_decref(a);

	a = json_pack("{s:i}", "n", 1);
	assert_int_equal(proto_args_check(schema, a, &key, &cause), -1);
	assert_string_equal(key, "name");
	assert_non_null(strstr(cause, "missing"));
	free(cause);
	json_decref(a);

	a = json_pack("{s:s, s:i}", "name", "x", "bogus", 1);
	assert_int_equal(proto_args_check(schema, a, &key, &cause), -1);
	assert_string_equal(key, "bogus");
	assert_non_null(strstr(cause, "unknown"));
	free(cause);
	json_decref(a);
}

/* --- answers and events --------------------------------------------------- */

static void
test_answer_shapes(void **state)
{
	json_t	*id = json_integer(9), *a, *back;
	char	*line;
	size_t	 len;

	(void)state;
	a = proto_answer_ok(id, json_pack("{s:i}", "x", 1));
	line = proto_encode(a, &len);
	assert_non_null(line);
	assert_int_equal(len, strlen(line));
	assert_int_equal(line[len - 1], '\n');
	assert_null(memchr(line, '\n', len - 1));	/* one line */
	back = json_loads(line, 0, NULL);
	assert_true(json_equal(back, a));
	assert_true(json_is_true(json_object_get(back, "ok")));
	assert_int_equal(json_integer_value(json_object_get(back, "id")), 9);
	json_decref(back);
	json_decref(a);
	free(line);

	a = proto_answer_error(NULL, PROTO_E_BAD_REQUEST, "bad %d", 1);
	assert_true(json_is_null(json_object_get(a, "id")));
	assert_string_equal(err_code(a), "bad_request");
	assert_string_equal(err_field(a, "message"), "bad 1");
	assert_null(err_field(a, "key"));
	assert_int_equal(json_object_size(a), 3);
	json_decref(a);

	a = proto_answer_error_key(id, PROTO_E_BAD_ARGS, "limit", "no");
	assert_string_equal(err_field(a, "key"), "limit");
	json_decref(a);

	/* A message that is not UTF-8 still makes a valid answer. */
	a = proto_answer_error(id, PROTO_E_INTERNAL, "%s", "bad \xff byte");
	assert_string_equal(err_code(a), "internal");
	line = proto_encode(a, NULL);
	assert_non_null(line);
	free(line);
	json_decref(a);

	a = proto_event(PROTO_EV_TRACKING, json_pack("{s:s}", "queue_id",
	    "Q1"));
	assert_string_equal(json_string_value(json_object_get(a, "event")),
	    "tracking");
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(a, "data"), "queue_id")), "Q1");
	assert_null(json_object_get(a, "id"));
	json_decref(a);

	a = proto_request_new(3, "status", NULL);
	line = proto_encode(a, NULL);
	assert_string_equal(line, "{\"id\":3,\"cmd\":\"status\"}\n");
	free(line);
	json_decref(a);
	json_decref(id);
}

/* --- the command table ---------------------------------------------------- */

static void
test_tables_agree(void **state)
{
	const struct ctl_cmd	*c;
	const struct proto_cmd	*p;
	const struct proto_arg	*a, *b;
	size_t			 i, n;

	(void)state;
	assert_int_equal(ctl_ncmds, proto_ncmds);
	for (i = 1; i < ctl_ncmds; i++) {
		assert_true(strcmp(ctl_cmds[i - 1]->name, ctl_cmds[i]->name) <
		    0);
		assert_true(strcmp(proto_cmds[i - 1].name, proto_cmds[i].name) <
		    0);
	}
	for (i = 0; i < ctl_ncmds; i++) {
		c = ctl_cmds[i];
		assert_ptr_equal(ctl_cmd_find(c->name), c);
		p = proto_cmd_find(c->name);
		assert_non_null(p);
		assert_int_equal(p->role, c->role);
		for (n = 0, a = c->args; a->key != NULL; a++, n++) {
			b = proto_arg_find(p->args, a->key);
			assert_non_null(b);
			assert_int_equal(a->type, b->type);
			assert_int_equal(a->required, b->required);
		}
		for (b = p->args; b->key != NULL; b++)
			n--;
		assert_int_equal(n, 0);
	}
	assert_null(ctl_cmd_find("nope"));
	assert_null(ctl_cmd_find(""));
	assert_null(proto_cmd_find("zzz"));
}

/* --- the dispatcher ------------------------------------------------------- */

static void
test_dispatch_bad_input(void **state)
{
	json_t	*a;
	char	*line;

	(void)state;
	a = run(PROTO_ROLE_ADMIN, "{not json");
	assert_string_equal(err_code(a), "bad_request");
	assert_true(json_is_null(json_object_get(a, "id")));
	json_decref(a);

	a = run(PROTO_ROLE_ADMIN, "{\"id\":4}");
	assert_string_equal(err_code(a), "bad_request");
	assert_int_equal(json_integer_value(json_object_get(a, "id")), 4);
	json_decref(a);

	a = run(PROTO_ROLE_ADMIN, "{\"id\":5,\"cmd\":[\"status\"]}");
	assert_string_equal(err_code(a), "bad_request");
	json_decref(a);

	a = run(PROTO_ROLE_ADMIN, "{\"id\":\"s1\",\"cmd\":\"frobnicate\"}");
	assert_string_equal(err_code(a), "unknown_command");
	assert_string_equal(json_string_value(json_object_get(a, "id")), "s1");
	assert_non_null(strstr(err_field(a, "message"), "frobnicate"));
	json_decref(a);

	/* A long unknown name is not echoed whole. */
	line = xmalloc(2048);
	memcpy(line, "{\"id\":1,\"cmd\":\"", 15);
	memset(line + 15, 'z', 1500);
	memcpy(line + 1515, "\"}", 3);
	a = run(PROTO_ROLE_ADMIN, line);
	assert_string_equal(err_code(a), "unknown_command");
	assert_true(strlen(err_field(a, "message")) < 200);
	json_decref(a);
	free(line);
}

static void
test_dispatch_roles(void **state)
{
	json_t	*a;
	size_t	 i;

	(void)state;
	a = run(PROTO_ROLE_AUDITOR, "{\"id\":1,\"cmd\":\"config.get\"}");
	assert_string_equal(err_code(a), "forbidden");
	assert_string_equal(err_field(a, "message"),
	    "role auditor may not run config.get");
	json_decref(a);

	assert_error(PROTO_ROLE_QMANAGER, "{\"id\":1,\"cmd\":\"config.reload\"}",
	    "forbidden");
	assert_error(PROTO_ROLE_USER, "{\"id\":1,\"cmd\":\"status\"}",
	    "forbidden");
	/* The role is checked before the arguments: no schema probing. */
	assert_error(PROTO_ROLE_USER,
	    "{\"id\":1,\"cmd\":\"tracking.get\",\"args\":{\"x\":1}}",
	    "forbidden");

	/* No role: every command is refused. */
	for (i = 0; i < ctl_ncmds; i++) {
		char	*line;

		xasprintf(&line, "{\"id\":1,\"cmd\":\"%s\"}", ctl_cmds[i]->name);
		a = run(PROTO_ROLE_NONE, line);
		assert_string_equal(err_code(a), "forbidden");
		assert_non_null(strstr(err_field(a, "message"), "role none"));
		json_decref(a);
		free(line);
	}
}

static void
test_dispatch_args(void **state)
{
	json_t	*a;

	(void)state;
	a = run(PROTO_ROLE_ADMIN,
	    "{\"id\":1,\"cmd\":\"status\",\"args\":{\"verbose\":true}}");
	assert_string_equal(err_code(a), "bad_args");
	assert_string_equal(err_field(a, "key"), "verbose");
	json_decref(a);

	a = run(PROTO_ROLE_AUDITOR, "{\"id\":2,\"cmd\":\"tracking.get\"}");
	assert_string_equal(err_code(a), "bad_args");
	assert_string_equal(err_field(a, "key"), "queue_id");
	json_decref(a);

	a = run(PROTO_ROLE_AUDITOR,
	    "{\"id\":3,\"cmd\":\"tracking.search\",\"args\":{\"limit\":\"9\"}}");
	assert_string_equal(err_field(a, "key"), "limit");
	json_decref(a);

	/* Values the schema cannot express, checked by the handler. */
	a = run(PROTO_ROLE_AUDITOR,
	    "{\"id\":4,\"cmd\":\"tracking.search\",\"args\":{\"limit\":0}}");
	assert_string_equal(err_code(a), "bad_args");
	assert_string_equal(err_field(a, "key"), "limit");
	json_decref(a);
	a = run(PROTO_ROLE_AUDITOR, "{\"id\":5,\"cmd\":\"tracking.search\","
	    "\"args\":{\"outcome\":\"eaten\"}}");
	assert_string_equal(err_field(a, "key"), "outcome");
	json_decref(a);
	a = run(PROTO_ROLE_AUDITOR, "{\"id\":6,\"cmd\":\"tracking.subscribe\","
	    "\"args\":{\"direction\":\"sideways\"}}");
	assert_string_equal(err_field(a, "key"), "direction");
	json_decref(a);
	a = run(PROTO_ROLE_AUDITOR, "{\"id\":7,\"cmd\":\"stats.get\","
	    "\"args\":{\"from_ms\":5000,\"to_ms\":1000}}");
	assert_string_equal(err_field(a, "key"), "to_ms");
	json_decref(a);
	a = run(PROTO_ROLE_AUDITOR,
	    "{\"id\":8,\"cmd\":\"tracking.get\",\"args\":{\"queue_id\":\"\"}}");
	assert_string_equal(err_field(a, "key"), "queue_id");
	json_decref(a);
}

static void
test_dispatch_passes(void **state)
{
	json_t	*a;

	(void)state;
	/* Checks passed; the store read needs the server (no pool here). */
	a = run(PROTO_ROLE_AUDITOR, "{\"id\":1,\"cmd\":\"tracking.search\","
	    "\"args\":{\"sender\":\"a@b\",\"limit\":10,\"cursor\":null}}");
	assert_string_equal(err_code(a), "unavailable");
	assert_int_equal(json_integer_value(json_object_get(a, "id")), 1);
	json_decref(a);
	assert_error(PROTO_ROLE_ADMIN, "{\"id\":2,\"cmd\":\"stats.get\"}",
	    "unavailable");
	assert_error(PROTO_ROLE_AUDITOR,
	    "{\"id\":3,\"cmd\":\"tracking.get\",\"args\":{\"queue_id\":\"Q\"}}",
	    "unavailable");
	/* An id too long to exist is simply not found. */
	assert_error(PROTO_ROLE_AUDITOR, "{\"id\":3,\"cmd\":\"tracking.get\","
	    "\"args\":{\"queue_id\":\"0123456789012345678901234567890\"}}",
	    "not_found");
	/* Subscribing needs a connection. */
	assert_error(PROTO_ROLE_AUDITOR,
	    "{\"id\":4,\"cmd\":\"tracking.subscribe\"}", "unavailable");
}

static void
test_dispatch_status(void **state)
{
	json_t	*a, *r;

	(void)state;
	a = run(PROTO_ROLE_AUDITOR, "{\"id\":11,\"cmd\":\"status\"}");
	assert_true(json_is_true(json_object_get(a, "ok")));
	assert_int_equal(json_integer_value(json_object_get(a, "id")), 11);
	r = json_object_get(a, "result");
	assert_string_equal(json_string_value(json_object_get(r, "version")),
	    MOAT_VERSION);
	assert_int_equal(json_integer_value(json_object_get(r, "protocol")),
	    PROTO_VERSION);
	assert_true(json_is_integer(json_object_get(r, "uptime_s")));
	assert_true(json_is_integer(json_object_get(r, "started_ms")));
	assert_true(json_is_integer(json_object_get(r, "sessions")));
	assert_true(json_is_integer(json_object_get(r, "inflight")));
	assert_true(json_is_object(json_object_get(r, "counters")));
	assert_string_equal(json_string_value(json_object_get(r, "role")),
	    "auditor");
	json_decref(a);
}

static int	 reload_rv;
static int	 reload_calls;

static int
fake_reload(char **cause)
{
	reload_calls++;
	if (reload_rv == -1)
		*cause = xstrdup("moat.conf:3: unknown key \"x\"");
	return reload_rv;
}

static void
test_dispatch_config(void **state)
{
	char		 dir[] = "/tmp/moat-test-proto.XXXXXX", path[PATH_MAX];
	char		*cause = NULL;
	struct cfg	*c;
	FILE		*f;
	json_t		*a;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/moat.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("node = { name = \"unit\"; };\n", f);
	fclose(f);
	c = cfg_load(path, &cause);
	if (c == NULL)
		fail_msg("cfg_load: %s", cause);
	cfg_set_current(c);

	a = run(PROTO_ROLE_ADMIN, "{\"id\":1,\"cmd\":\"config.get\"}");
	assert_true(json_is_true(json_object_get(a, "ok")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_object_get(a, "result"), "node"), "name")), "unit");
	json_decref(a);

	ctl_set_reload(NULL);
	assert_error(PROTO_ROLE_ADMIN, "{\"id\":2,\"cmd\":\"config.reload\"}",
	    "config_error");
	ctl_set_reload(fake_reload);
	reload_rv = -1;
	a = run(PROTO_ROLE_ADMIN, "{\"id\":3,\"cmd\":\"config.reload\"}");
	assert_string_equal(err_code(a), "config_error");
	assert_non_null(strstr(err_field(a, "message"), "moat.conf:3"));
	json_decref(a);
	reload_rv = 0;
	a = run(PROTO_ROLE_ADMIN, "{\"id\":4,\"cmd\":\"config.reload\"}");
	assert_true(json_is_true(json_object_get(a, "ok")));
	json_decref(a);
	assert_int_equal(reload_calls, 2);
	/* Forbidden never reaches the handler. */
	assert_error(PROTO_ROLE_AUDITOR, "{\"id\":5,\"cmd\":\"config.reload\"}",
	    "forbidden");
	assert_int_equal(reload_calls, 2);
	ctl_set_reload(NULL);

	cfg_set_current(NULL);
	unlink(path);
	rmdir(dir);
	assert_error(PROTO_ROLE_ADMIN, "{\"id\":6,\"cmd\":\"config.get\"}",
	    "unavailable");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_frame_lines),
		cmocka_unit_test(test_frame_limit),
		cmocka_unit_test(test_request_parse),
		cmocka_unit_test(test_args_check),
		cmocka_unit_test(test_answer_shapes),
		cmocka_unit_test(test_tables_agree),
		cmocka_unit_test(test_dispatch_bad_input),
		cmocka_unit_test(test_dispatch_roles),
		cmocka_unit_test(test_dispatch_args),
		cmocka_unit_test(test_dispatch_passes),
		cmocka_unit_test(test_dispatch_status),
		cmocka_unit_test(test_dispatch_config),
	};

	log_init("test_proto", true, false);
	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
