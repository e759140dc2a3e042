/*
 * The JSON shape of rules, object groups and actions for the control
 * commands (rules.*, objects.*). Any thread holding the policy.
 */
#include <stdio.h>
#include <string.h>

#include "policy.h"

static const char *const day_names[7] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat"
};

static bool
is_final(enum policy_atype t)
{
	return t == POLICY_A_ACCEPT || t == POLICY_A_BLOCK ||
	    t == POLICY_A_QUARANTINE;
}

static json_t *
obj_to_json(const struct policy_obj *o)
{
	static const char *const sources[] = { "any", "declared", "sniffed" };
	json_t	*j = json_object();
	char	 hhmm[16];
	int	 i;

	switch (o->kind) {
	case POLICY_O_SPAM_SCORE:
		json_object_set_new(j, "spam_score", json_real(o->score));
		break;
	case POLICY_O_VIRUS:
		json_object_set_new(j, "virus", json_true());
		break;
	case POLICY_O_HEADER:
		json_object_set_new(j, "header", json_string(o->field));
		json_object_set_new(j, "value", json_string(o->value));
		break;
	case POLICY_O_CONTENT_TYPE:
		json_object_set_new(j, "content_type", json_string(o->value));
		json_object_set_new(j, "source",
		    json_string(sources[o->source]));
		break;
	case POLICY_O_TIMEFRAME: {
		char	days[40] = "";
		size_t	len = 0;

		for (i = 0; i < 7; i++) {
			if (!(o->days & (1u << i)))
				continue;
			len += (size_t)snprintf(days + len, sizeof days - len,
			    "%s%s", len > 0 ? "," : "", day_names[i]);
		}
		json_object_set_new(j, "days", json_string(o->days == 0x7f ?
		    "*" : days));
		snprintf(hhmm, sizeof hhmm, "%02d:%02d", o->start_min / 60,
		    o->start_min % 60);
		json_object_set_new(j, "start", json_string(hhmm));
		snprintf(hhmm, sizeof hhmm, "%02d:%02d", o->end_min / 60,
		    o->end_min % 60);
		json_object_set_new(j, "end", json_string(hhmm));
		break;
	}
	default:
		json_object_set_new(j, policy_okind_key(o->kind),
		    json_string(o->value));
		break;
	}
	return j;
}

json_t *
policy_group_to_json(const struct policy_objgroup *g)
{
	json_t	*objs = json_array();
	size_t	 i;

	for (i = 0; i < g->nobjs; i++)
		json_array_append_new(objs, obj_to_json(&g->objs[i]));
	return json_pack("{s:s, s:s, s:s?, s:o, s:s, s:i}", "name", g->name,
	    "category", policy_cat_name(g->cat), "comment", g->comment,
	    "objects", objs, "file", g->file->name, "line", g->line);
}

json_t *
policy_action_to_json(const struct policy_action *a)
{
	static const char *const tos[] = { "admin", "sender", "recipients",
	    "address" };
	json_t	*j;

	j = json_pack("{s:s, s:s, s:b, s:s?, s:s, s:i}", "name", a->name,
	    "type", policy_atype_name(a->type), "final", is_final(a->type),
	    "comment", a->comment, "file", a->file->name, "line", a->line);
	if (a->quar_type >= 0)
		json_object_set_new(j, "kind",
		    json_string(quar_type_name((enum quar_type)a->quar_type)));
	if (a->field != NULL)
		json_object_set_new(j, "field", json_string(a->field));
	if (a->value != NULL)
		json_object_set_new(j, "value", json_string(a->value));
	if (a->type == POLICY_A_REMOVE_ATTACHMENTS) {
		json_object_set_new(j, "all", json_boolean(a->all));
		json_object_set_new(j, "quarantine",
		    json_boolean(a->quarantine));
	}
	if (a->type == POLICY_A_NOTIFY)
		json_object_set_new(j, "to", json_string(a->to ==
		    POLICY_TO_ADDRESS ? a->addr : tos[a->to]));
	if (a->type == POLICY_A_BCC) {
		json_object_set_new(j, "to", json_string(a->addr));
		json_object_set_new(j, "original", json_boolean(a->original));
	}
	if (a->subject != NULL)
		json_object_set_new(j, "subject", json_string(a->subject));
	if (a->text != NULL)
		json_object_set_new(j, "text", json_string(a->text));
	if (a->html != NULL)
		json_object_set_new(j, "html", json_string(a->html));
	return j;
}

json_t *
policy_rule_to_json(const struct policy_rule *r, bool full)
{
	json_t	*j, *list;
	size_t	 i;
	int	 f;
	char	 name[POLICY_NAME_MAX + 2];

	j = json_pack("{s:s, s:s?, s:i, s:b, s:s, s:s, s:i}", "name", r->name,
	    "comment", r->comment, "priority", r->priority, "active",
	    r->active, "direction", r->dirs == POLICY_DIR_IN ? "in" :
	    r->dirs == POLICY_DIR_OUT ? "out" : "both", "file", r->file->name,
	    "line", r->line);
	for (f = 0; f < POLICY_F_MAX; f++) {
		list = json_array();
		for (i = 0; i < r->nrefs[f]; i++) {
			if (full) {
				json_t *g = policy_group_to_json(
				    r->refs[f][i].group);

				json_object_set_new(g, "invert",
				    json_boolean(r->refs[f][i].invert));
				json_array_append_new(list, g);
				continue;
			}
			snprintf(name, sizeof name, "%s%s",
			    r->refs[f][i].invert ? "!" : "",
			    r->refs[f][i].group->name);
			json_array_append_new(list, json_string(name));
		}
		json_object_set_new(j, policy_field_name((enum policy_field)f), list);
	}
	list = json_array();
	for (i = 0; i < r->nactions; i++)
		json_array_append_new(list, full ?
		    policy_action_to_json(r->actions[i]) :
		    json_string(r->actions[i]->name));
	json_object_set_new(j, "action", list);
	return j;
}
