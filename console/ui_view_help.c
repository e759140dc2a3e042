/*
 * Help: "?" anywhere lists the keys of the current view and the global
 * ones, with what the connection's role may not do and why.
 * Console thread.
 */
#include <stdio.h>
#include <string.h>

#include "ui.h"
#include "ui_text.h"

static struct model_pager	help;

static const struct ui_keyhelp	global_keys[] = {
	{ "1-6", "switch to a view (Tab, Shift-Tab: next, previous)", NULL,
	  false },
	{ "? F1", "this help", NULL, false },
	{ "q Esc", "back: close, leave a mode, the previous view; q on the "
	  "first view quits", NULL, false },
	{ "Q", "quit at once", NULL, false },
	{ "arrows jk", "move; PgUp/PgDn ^B/^F page, ^U/^D half a page",
	  NULL, false },
	{ "Home g End G", "first, last", NULL, false },
	{ "^L", "redraw the screen", NULL, false },
	{ "^R", "reconnect now (after a lost connection)", NULL, false },
	{ NULL, NULL, NULL, false },
};

static void
add_keys(const struct ui_keyhelp *k)
{
	char	why[256], key[64], what[512];

	for (; k != NULL && k->key != NULL; k++) {
		snprintf(key, sizeof key, "  %s", k->key);
		if (k->cmd != NULL && !ui_may(k->cmd, why, sizeof why)) {
			/* Greyed, with the reason. */
			snprintf(what, sizeof what, "%s (%s)", k->what, why);
			model_pager_kv(&help, UI_S_DIM, 16, key, what);
		} else
			model_pager_kv(&help, UI_S_NORMAL, 16, key, k->what);
	}
}


void
ui_help_open(const struct ui_view *v)
{
	char	title[128];

	model_pager_clear(&help);
	snprintf(title, sizeof title, "Help: %s", v->name);
	model_pager_set_title(&help, title);
	model_pager_add(&help, UI_S_TITLE, v->name);
	add_keys(v->keys);
	model_pager_add(&help, UI_S_NORMAL, "");
	model_pager_add(&help, UI_S_TITLE, "Everywhere");
	add_keys(global_keys);
	model_pager_add(&help, UI_S_NORMAL, "");
	model_pager_addf(&help, UI_S_NORMAL, "This connection's role: %s. "
	    "Greyed keys are not allowed for it or not available on this "
	    "moatd.", ui_role() != PROTO_ROLE_NONE ?
	    proto_role_name(ui_role()) : "unknown yet");
	model_pager_add(&help, UI_S_NORMAL, "Every text from mail is shown "
	    "without control characters or escape sequences.");
	ui_overlay(&help, NULL, NULL);
}

void
ui_help_free(void)
{
	model_pager_clear(&help);
}
