/*  =========================================================================
    ih_conftab - a table-driven option engine for the daemons' configuration

    Design. The caller's table says everything about an option; this file
    knows nothing about any particular option. Values live in an
    s_values_t (text as given, owned, NULL when unset; plus the parsed
    number of numeric options). Every value reaches a value set through
    s_validate, which is the only check there is, so the file loader and
    the flag setter cannot disagree. A load copies the current values,
    applies the whole ZPL tree to the copy and swaps the copy in only on
    success; on error the copy is dropped.

    Error texts are those incuhubd and incuhub-agent printed before this
    module existed (their tests match them); see ih_conftab.h.
    =========================================================================*/
#include "ih_conftab.h"

//  One complete set of values, count entries each.
typedef struct {
    char **text;      //  the value as given (owned), or NULL when unset
    uint64_t *number; //  parsed value of numeric options, else 0
} s_values_t;

struct _ih_conftab_t {
    const ih_conftab_table_t *table; //  borrowed
    s_values_t values;               //  current, all valid
};

ih_err_t
ih_conftab_fail (char **error_p, const char *format, ...)
{
    if (error_p) {
        va_list args;
        va_start (args, format);
        *error_p = zsys_vprintf (format, args);
        va_end (args);
    }
    return IH_E_CONFIG;
}

//  Checks value for option; on success *stored_p is the text to keep
//  (value, or "" for a bare key where that is allowed) and *number_p its
//  number; on error writes why into why.
static int
s_validate (const ih_conftab_option_t *option, const char *value,
            const char **stored_p, uint64_t *number_p, char *why,
            size_t why_size)
{
    *number_p = 0;
    ih_conftab_kind_t kind = option->kind;
    //  No value at all (NULL): "" for the kinds that read it so, else
    //  "empty value". (zconfig gives a bare key as "".)
    if (!value && (kind == IH_CONFTAB_STRING || kind == IH_CONFTAB_INTEGER))
        value = "";
    *stored_p = value;
    if (kind == IH_CONFTAB_STRING)
        return 0;
    if (kind == IH_CONFTAB_INTEGER) {
        char *end = NULL;
        errno = 0;
        long number = strtol (value, &end, 10);
        if (errno || end == value || *end || number < (long) option->min ||
            number > (long) option->max) {
            snprintf (why, why_size,
                      "%s must be an integer in %" PRIu64 "..%" PRIu64
                      ", not '%s'",
                      option->key, option->min, option->max, value);
            return -1;
        }
        *number_p = (uint64_t) number;
        return 0;
    }
    bool optional = kind == IH_CONFTAB_OPTIONAL_PATH ||
                    kind == IH_CONFTAB_OPTIONAL_ENDPOINT;
    if (value && !*value && optional)
        return 0;
    if (!value || !*value) {
        snprintf (why, why_size, "empty value");
        return -1;
    }
    if ((kind == IH_CONFTAB_ENDPOINT || kind == IH_CONFTAB_OPTIONAL_ENDPOINT) &&
        !strstr (value, "://")) {
        snprintf (why, why_size, "'%s' is not a ZeroMQ endpoint", value);
        return -1;
    }
    if (kind == IH_CONFTAB_NUMBER) {
        char *end;
        errno = 0;
        unsigned long long number = strtoull (value, &end, 10);
        if (!isdigit ((unsigned char) *value) || errno || *end ||
            number < option->min || number > option->max) {
            snprintf (why, why_size,
                      "'%s' is not a number in %" PRIu64 "..%" PRIu64, value,
                      option->min, option->max);
            return -1;
        }
        *number_p = number;
    }
    return 0;
}

static void
s_values_alloc (s_values_t *values, size_t count)
{
    values->text = (char **) zmalloc (count * sizeof (char *));
    values->number = (uint64_t *) zmalloc (count * sizeof (uint64_t));
    assert (values->text && values->number);
}

static void
s_values_free (s_values_t *values, size_t count)
{
    if (values->text)
        for (size_t i = 0; i < count; i++)
            zstr_free (&values->text[i]);
    free (values->text);
    free (values->number);
    values->text = NULL;
    values->number = NULL;
}

static void
s_values_copy (s_values_t *dest, const s_values_t *source, size_t count)
{
    s_values_alloc (dest, count);
    for (size_t i = 0; i < count; i++) {
        if (source->text[i]) {
            dest->text[i] = strdup (source->text[i]);
            assert (dest->text[i]);
        }
        dest->number[i] = source->number[i];
    }
}

//  Stores an already validated value.
static void
s_values_put (s_values_t *values, size_t i, const char *text, uint64_t number)
{
    char *copy = strdup (text);
    assert (copy);
    zstr_free (&values->text[i]);
    values->text[i] = copy;
    values->number[i] = number;
}

//  Applies root (a parsed ZPL tree) to values; origin names the source.
static ih_err_t
s_apply (const ih_conftab_table_t *table, s_values_t *values, zconfig_t *root,
         const char *section, const char *origin, char **error_p)
{
    for (zconfig_t *branch = zconfig_child (root); branch;
         branch = zconfig_next (branch)) {
        const char *branch_name = zconfig_name (branch);
        if (!branch_name || !streq (branch_name, section))
            return ih_conftab_fail (error_p, "%s: unknown section '%s'", origin,
                                    branch_name ? branch_name : "");
        for (zconfig_t *item = zconfig_child (branch); item;
             item = zconfig_next (item)) {
            const char *name = zconfig_name (item);
            if (!name)
                name = "";
            size_t i;
            for (i = 0; i < table->count; i++)
                if (streq (name, table->options[i].key))
                    break;
            bool children = zconfig_child (item) != NULL;
            if (i == table->count ||
                (children && (table->flags & IH_CONFTAB_CHILDREN_UNKNOWN)))
                return ih_conftab_fail (error_p, "%s: unknown key '%s/%s'",
                                        origin, section, name);
            if (children)
                return ih_conftab_fail (error_p, "%s: key '%s/%s' has children",
                                        origin, section, name);
            const char *stored;
            uint64_t number;
            char why[300];
            if (s_validate (&table->options[i], zconfig_value (item), &stored,
                            &number, why, sizeof (why)))
                return ih_conftab_fail (error_p, "%s: %s/%s: %s", origin,
                                        section, name, why);
            s_values_put (values, i, stored, number);
        }
    }
    return IH_OK;
}

//  Applies root to a fresh copy of self's values, swaps on success.
//  Takes ownership of *root_p.
static ih_err_t
s_load (ih_conftab_t *self, zconfig_t **root_p, const char *section,
        const char *origin, char **error_p)
{
    size_t count = self->table->count;
    s_values_t fresh;
    s_values_copy (&fresh, &self->values, count);
    ih_err_t rc =
        s_apply (self->table, &fresh, *root_p, section, origin, error_p);
    zconfig_destroy (root_p);
    if (rc == IH_OK) {
        s_values_t old = self->values;
        self->values = fresh;
        s_values_free (&old, count);
    } else
        s_values_free (&fresh, count);
    return rc;
}

ih_conftab_t *
ih_conftab_new (const ih_conftab_table_t *table)
{
    assert (table);
    assert (table->options || table->count == 0);
    ih_conftab_t *self = (ih_conftab_t *) zmalloc (sizeof (ih_conftab_t));
    assert (self);
    self->table = table;
    s_values_alloc (&self->values, table->count);
    for (size_t i = 0; i < table->count; i++) {
        const ih_conftab_option_t *option = &table->options[i];
        if (!option->fallback)
            continue; //  unset until given
        const char *stored;
        uint64_t number;
        char why[300];
        int rc = s_validate (option, option->fallback, &stored, &number, why,
                             sizeof (why));
        assert (rc == 0); //  a bad default is a programmer error
        (void) rc;
        s_values_put (&self->values, i, stored, number);
    }
    return self;
}

void
ih_conftab_destroy (ih_conftab_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ih_conftab_t *self = *self_p;
        s_values_free (&self->values, self->table->count);
        free (self);
        *self_p = NULL;
    }
}

ih_err_t
ih_conftab_load_file (ih_conftab_t *self, const char *section, const char *path,
                      char **error_p)
{
    assert (self);
    assert (section);
    assert (path);
    if (access (path, R_OK))
        return ih_conftab_fail (error_p, "cannot read %s: %s", path,
                                strerror (errno));
    //  zconfig reports parse errors with zclock_log, which writes to
    //  stdout; stdout is reserved for the ready line, so point it at
    //  stderr for the duration of the parse
    fflush (stdout);
    int saved = dup (STDOUT_FILENO);
    if (saved >= 0)
        dup2 (STDERR_FILENO, STDOUT_FILENO);
    zconfig_t *root = zconfig_load (path);
    fflush (stdout);
    if (saved >= 0) {
        dup2 (saved, STDOUT_FILENO);
        close (saved);
    }
    if (!root)
        return ih_conftab_fail (error_p, "%s: not a valid ZPL file", path);
    return s_load (self, &root, section, path, error_p);
}

ih_err_t
ih_conftab_load_string (ih_conftab_t *self, const char *section,
                        const char *text, char **error_p)
{
    assert (self);
    assert (section);
    assert (text);
    zconfig_t *root = zconfig_str_load (text);
    if (!root)
        return ih_conftab_fail (error_p, "<text>: not a valid ZPL file");
    return s_load (self, &root, section, "<text>", error_p);
}

ih_err_t
ih_conftab_set (ih_conftab_t *self, const char *key_or_flag, const char *value,
                char **error_p)
{
    assert (self);
    assert (key_or_flag);
    const ih_conftab_table_t *table = self->table;
    for (size_t i = 0; i < table->count; i++) {
        const ih_conftab_option_t *option = &table->options[i];
        if (!streq (key_or_flag, option->key) &&
            !streq (key_or_flag, option->flag))
            continue;
        const char *stored;
        uint64_t number;
        char why[300];
        if (s_validate (option, value, &stored, &number, why, sizeof (why)))
            return ih_conftab_fail (error_p, "--%s: %s", option->flag, why);
        s_values_put (&self->values, i, stored, number);
        return IH_OK;
    }
    return ih_conftab_fail (error_p, "--%s: unknown option", key_or_flag);
}

const char *
ih_conftab_text (ih_conftab_t *self, size_t index)
{
    assert (self);
    assert (index < self->table->count);
    return self->values.text[index];
}

uint64_t
ih_conftab_number (ih_conftab_t *self, size_t index)
{
    assert (self);
    assert (index < self->table->count);
    return self->values.number[index];
}

const char *
ih_conftab_flag (const ih_conftab_table_t *table, size_t index)
{
    assert (table);
    return index < table->count ? table->options[index].flag : NULL;
}

void
ih_conftab_help (const ih_conftab_table_t *table, FILE *out)
{
    assert (table);
    assert (out);
    for (size_t i = 0; i < table->count; i++)
        if (table->options[i].help)
            fprintf (out, "  --%-14s %s (default %s)\n", table->options[i].flag,
                     table->options[i].help,
                     table->options[i].fallback ? table->options[i].fallback
                                                : "none");
}

//  --------------------------------------------------------------------------
//  Selftest

//  A table with every kind; the defaults differ from anything the test
//  sets so a failed load is visible.
enum { T_PATH, T_END, T_NUM, T_OPATH, T_OEND, T_STR, T_INT, T_COUNT };

static const ih_conftab_option_t s_test_options[T_COUNT] = {
    {"path", "path", "/p", IH_CONFTAB_PATH, 0, 0, "a path"},
    {"end", "end-point", "tcp://*:1", IH_CONFTAB_ENDPOINT, 0, 0, "an endpoint"},
    {"num", "number", "5", IH_CONFTAB_NUMBER, 1, 10, "a number"},
    {"opath", "opath", "", IH_CONFTAB_OPTIONAL_PATH, 0, 0, NULL},
    {"oend", "oend", "", IH_CONFTAB_OPTIONAL_ENDPOINT, 0, 0, NULL},
    {"str", "str", NULL, IH_CONFTAB_STRING, 0, 0, NULL},
    {"int", "integer", NULL, IH_CONFTAB_INTEGER, 2, 20, "an integer"},
};

static const ih_conftab_table_t s_test_table = {s_test_options, T_COUNT, 0};
static const ih_conftab_table_t s_test_table_unknown = {
    s_test_options, T_COUNT, IH_CONFTAB_CHILDREN_UNKNOWN};

//  Loads text under section "sec"; expects exactly the message wanted
//  and the defaults unchanged.
static void
s_expect_error (const ih_conftab_table_t *table, const char *text,
                const char *wanted, bool verbose)
{
    ih_conftab_t *conf = ih_conftab_new (table);
    char *error = NULL;
    ih_err_t rc = ih_conftab_load_string (conf, "sec", text, &error);
    if (verbose)
        zsys_debug ("conftab: %s", error ? error : "(no error)");
    assert (rc == IH_E_CONFIG);
    assert (error);
    if (!streq (error, wanted)) {
        fprintf (stderr, "conftab: '%s' is not '%s'\n", error, wanted);
        assert (false);
    }
    zstr_free (&error);
    assert (streq (ih_conftab_text (conf, T_PATH), "/p"));
    assert (ih_conftab_number (conf, T_NUM) == 5);
    assert (ih_conftab_text (conf, T_STR) == NULL);
    assert (ih_conftab_load_string (conf, "sec", text, NULL) == IH_E_CONFIG);
    ih_conftab_destroy (&conf);
}

void
ih_conftab_test (bool verbose)
{
    printf (" * ih_conftab: ");

    //  Defaults; unset options are NULL / 0
    ih_conftab_t *conf = ih_conftab_new (&s_test_table);
    assert (streq (ih_conftab_text (conf, T_PATH), "/p"));
    assert (streq (ih_conftab_text (conf, T_END), "tcp://*:1"));
    assert (streq (ih_conftab_text (conf, T_NUM), "5"));
    assert (ih_conftab_number (conf, T_NUM) == 5);
    assert (streq (ih_conftab_text (conf, T_OPATH), ""));
    assert (ih_conftab_text (conf, T_STR) == NULL);
    assert (ih_conftab_text (conf, T_INT) == NULL);
    assert (ih_conftab_number (conf, T_INT) == 0);
    assert (streq (ih_conftab_flag (&s_test_table, 1), "end-point"));
    assert (ih_conftab_flag (&s_test_table, T_COUNT) == NULL);

    //  A valid text, then a partial one; a bare STRING key is ""
    char *error = NULL;
    assert (ih_conftab_load_string (conf, "sec",
                                    "sec\n"
                                    "    path = \"/q\"\n"
                                    "    end = \"ipc://@x\"\n"
                                    "    num = 10\n"
                                    "    oend = \"tcp://a:2\"\n"
                                    "    opath\n"
                                    "    str\n"
                                    "    int = \" +7\"\n",
                                    &error) == IH_OK);
    assert (error == NULL);
    assert (streq (ih_conftab_text (conf, T_PATH), "/q"));
    assert (streq (ih_conftab_text (conf, T_END), "ipc://@x"));
    assert (ih_conftab_number (conf, T_NUM) == 10);
    assert (streq (ih_conftab_text (conf, T_OEND), "tcp://a:2"));
    assert (streq (ih_conftab_text (conf, T_OPATH), "")); //  bare: off
    assert (streq (ih_conftab_text (conf, T_STR), ""));
    assert (ih_conftab_number (conf, T_INT) == 7); //  strtol's leniency
    assert (ih_conftab_load_string (conf, "sec", "sec\n    num = 1\n", NULL) ==
            IH_OK);
    assert (ih_conftab_number (conf, T_NUM) == 1);
    assert (streq (ih_conftab_text (conf, T_PATH), "/q"));
    assert (ih_conftab_load_string (conf, "sec", "", NULL) == IH_OK);
    //  A failed load keeps even the keys before the bad one
    assert (ih_conftab_load_string (conf, "sec",
                                    "sec\n    num = 2\n    num = 11\n",
                                    &error) == IH_E_CONFIG);
    assert (streq (error, "<text>: sec/num: '11' is not a number in 1..10"));
    zstr_free (&error);
    assert (ih_conftab_number (conf, T_NUM) == 1);

    //  Set, by key or flag, with every kind's message
    assert (ih_conftab_set (conf, "end-point", "inproc://z", NULL) == IH_OK);
    assert (streq (ih_conftab_text (conf, T_END), "inproc://z"));
    assert (ih_conftab_set (conf, "end", "z", &error) == IH_E_CONFIG);
    assert (streq (error, "--end-point: 'z' is not a ZeroMQ endpoint"));
    zstr_free (&error);
    assert (ih_conftab_set (conf, "path", "", &error) == IH_E_CONFIG);
    assert (streq (error, "--path: empty value"));
    zstr_free (&error);
    assert (ih_conftab_set (conf, "path", NULL, NULL) == IH_E_CONFIG);
    assert (ih_conftab_set (conf, "opath", "", NULL) == IH_OK);
    assert (ih_conftab_set (conf, "opath", NULL, NULL) == IH_E_CONFIG);
    assert (ih_conftab_set (conf, "oend", "nope", NULL) == IH_E_CONFIG);
    assert (ih_conftab_set (conf, "number", "+3", &error) == IH_E_CONFIG);
    assert (streq (error, "--number: '+3' is not a number in 1..10"));
    zstr_free (&error);
    assert (ih_conftab_set (conf, "number", "99999999999999999999999", NULL) ==
            IH_E_CONFIG);
    assert (ih_conftab_set (conf, "integer", "21", &error) == IH_E_CONFIG);
    assert (streq (error, "--integer: int must be an integer in 2..20, not "
                          "'21'"));
    zstr_free (&error);
    assert (ih_conftab_set (conf, "int", NULL, &error) == IH_E_CONFIG);
    assert (streq (error, "--integer: int must be an integer in 2..20, not "
                          "''"));
    zstr_free (&error);
    assert (ih_conftab_set (conf, "int", "-5", NULL) == IH_E_CONFIG);
    assert (ih_conftab_number (conf, T_INT) == 7);
    assert (ih_conftab_set (conf, "str", "anything at all", NULL) == IH_OK);
    assert (streq (ih_conftab_text (conf, T_STR), "anything at all"));
    assert (ih_conftab_set (conf, "what", "1", &error) == IH_E_CONFIG);
    assert (streq (error, "--what: unknown option"));
    zstr_free (&error);
    ih_conftab_destroy (&conf);
    ih_conftab_destroy (&conf);
    assert (conf == NULL);

    //  Every error of the loader, with both children styles
    s_expect_error (&s_test_table, "sec\n    nope = 1\n",
                    "<text>: unknown key 'sec/nope'", verbose);
    s_expect_error (&s_test_table, "other\n    num = 1\n",
                    "<text>: unknown section 'other'", verbose);
    s_expect_error (&s_test_table, "sec\n    path = \"/x\"\n        a = 1\n",
                    "<text>: key 'sec/path' has children", verbose);
    s_expect_error (&s_test_table_unknown,
                    "sec\n    path = \"/x\"\n        a = 1\n",
                    "<text>: unknown key 'sec/path'", verbose);
    s_expect_error (&s_test_table, "sec\n    path\n",
                    "<text>: sec/path: empty value", verbose);
    s_expect_error (&s_test_table, "sec\n    int\n",
                    "<text>: sec/int: int must be an integer in 2..20, not ''",
                    verbose);
    s_expect_error (&s_test_table, "sec\n  num = 1\n",
                    "<text>: not a valid ZPL file", verbose);

    //  Help: options with help text only
    char *buffer = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&buffer, &size);
    assert (out);
    ih_conftab_help (&s_test_table, out);
    fclose (out);
    assert (streq (buffer,
                   "  --path           a path (default /p)\n"
                   "  --end-point      an endpoint (default tcp://*:1)\n"
                   "  --number         a number (default 5)\n"
                   "  --integer        an integer (default none)\n"));
    free (buffer);

    //  Files: good, bad (the message names the file), missing
    char dir[] = "/tmp/ih-conftab-XXXXXX";
    assert (mkdtemp (dir));
    char *path = zsys_sprintf ("%s/test.cfg", dir);
    FILE *file = fopen (path, "w");
    assert (file);
    fprintf (file, "sec\n    num = 9\n");
    fclose (file);
    conf = ih_conftab_new (&s_test_table);
    assert (ih_conftab_load_file (conf, "sec", path, &error) == IH_OK);
    assert (ih_conftab_number (conf, T_NUM) == 9);
    file = fopen (path, "w");
    assert (file);
    fprintf (file, "sec\n    num = 8\n    bogus = 1\n");
    fclose (file);
    assert (ih_conftab_load_file (conf, "sec", path, &error) == IH_E_CONFIG);
    char *expected = zsys_sprintf ("%s: unknown key 'sec/bogus'", path);
    assert (streq (error, expected));
    zstr_free (&expected);
    zstr_free (&error);
    assert (ih_conftab_number (conf, T_NUM) == 9);
    unlink (path);
    assert (ih_conftab_load_file (conf, "sec", path, &error) == IH_E_CONFIG);
    assert (strncmp (error, "cannot read ", 12) == 0);
    zstr_free (&error);
    ih_conftab_destroy (&conf);
    zstr_free (&path);
    rmdir (dir);

    printf ("OK\n");
}
