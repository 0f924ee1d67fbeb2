/*  =========================================================================
    ih_registry - the site registry: who may sign events, and where they are

    Where it sits: the ingest actor looks up each event's site here to get
    the public key that must verify its signature and the district that
    prefixes its publish topic. The CLI (`incuhub site add`) writes the
    file with ih_registry_add; the hub notices the change by stat (mtime,
    size and inode) the next time it meets an unknown site, so a new site
    can publish without a restart.

    Invariants: a registry in memory is always a fully validated file;
    a reload parses into a fresh table and swaps only on success, so a bad
    edit never takes a running hub's sites away. Writes go to a temporary
    file in the same directory that is fsynced and renamed over the old
    one, so readers see the old file or the new one, never half of one.
    Site objects may carry extra fields (e.g. a note), which are ignored.
    =========================================================================*/
#include <czmq.h>
#include <jansson.h>
#include <sys/stat.h>
#include "ih_registry.h"

#define IH_REGISTRY_VERSION 1

struct _ih_registry_t {
    char *path;      //  the file, for reloads and log lines
    zhashx_t *sites; //  id -> ih_site_t (owned)
    //  Signature of the file last looked at, loaded or not
    bool stat_known;
    struct timespec mtime;
    off_t size;
    ino_t ino;
};

static const char *s_kinds[] = {"bureau",   "district", "incubator",
                                "offshore", "remote",   "auditor"};

bool
ih_registry_kind_valid (const char *kind)
{
    if (!kind)
        return false;
    for (size_t i = 0; i < sizeof (s_kinds) / sizeof (s_kinds[0]); i++)
        if (streq (kind, s_kinds[i]))
            return true;
    return false;
}

static void
s_site_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

//  Validates one site object into site. Returns 0, or -1 with a reason.
static int
s_site_parse (json_t *obj, ih_site_t *site, char *why, size_t why_size)
{
    if (!json_is_object (obj)) {
        snprintf (why, why_size, "a site is not an object");
        return -1;
    }
    const char *fields[] = {"id", "kind", "district", "key"};
    const char *values[4];
    for (int i = 0; i < 4; i++) {
        json_t *value = json_object_get (obj, fields[i]);
        if (!json_is_string (value)) {
            snprintf (why, why_size, "site field '%s' missing or not a string",
                      fields[i]);
            return -1;
        }
        values[i] = json_string_value (value);
    }
    memset (site, 0, sizeof (*site));
    if (!ih_event_name_valid (values[0])) {
        snprintf (why, why_size, "invalid site id '%.80s'", values[0]);
        return -1;
    }
    if (!ih_registry_kind_valid (values[1])) {
        snprintf (why, why_size, "site %s: unknown kind '%.20s'", values[0],
                  values[1]);
        return -1;
    }
    if (!ih_event_name_valid (values[2])) {
        snprintf (why, why_size, "site %s: invalid district '%.80s'", values[0],
                  values[2]);
        return -1;
    }
    if (strlen (values[3]) != 2 * IH_KEY_PUBLIC_SIZE ||
        ih_key_from_hex (values[3], site->key) != IH_OK) {
        snprintf (why, why_size, "site %s: key is not 64 hex digits",
                  values[0]);
        return -1;
    }
    snprintf (site->id, sizeof (site->id), "%s", values[0]);
    snprintf (site->kind, sizeof (site->kind), "%s", values[1]);
    snprintf (site->district, sizeof (site->district), "%s", values[2]);
    return 0;
}

//  Validates a whole registry document into a new table (or NULL).
static zhashx_t *
s_table_parse (json_t *root, char *why, size_t why_size)
{
    if (!json_is_object (root)) {
        snprintf (why, why_size, "top level is not an object");
        return NULL;
    }
    json_t *version = json_object_get (root, "version");
    if (!json_is_integer (version) ||
        json_integer_value (version) != IH_REGISTRY_VERSION) {
        snprintf (why, why_size, "'version' must be %d", IH_REGISTRY_VERSION);
        return NULL;
    }
    json_t *sites = json_object_get (root, "sites");
    if (!json_is_array (sites)) {
        snprintf (why, why_size, "'sites' missing or not an array");
        return NULL;
    }
    zhashx_t *table = zhashx_new ();
    assert (table);
    zhashx_set_destructor (table, s_site_free);
    size_t i;
    json_t *obj;
    json_array_foreach (sites, i, obj)
    {
        ih_site_t site;
        if (s_site_parse (obj, &site, why, why_size)) {
            zhashx_destroy (&table);
            return NULL;
        }
        ih_site_t *copy = (ih_site_t *) malloc (sizeof (ih_site_t));
        assert (copy);
        *copy = site;
        if (zhashx_insert (table, copy->id, copy)) {
            snprintf (why, why_size, "duplicate site id '%s'", site.id);
            free (copy);
            zhashx_destroy (&table);
            return NULL;
        }
    }
    return table;
}

//  Reads and parses path. Returns the JSON root or NULL with *err_p set.
static json_t *
s_read_json (const char *path, ih_err_t *err_p)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        zsys_error ("registry: cannot read %s: %s", path, strerror (errno));
        *err_p = IH_E_IO;
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadf (file, JSON_REJECT_DUPLICATES, &jerr);
    fclose (file);
    if (!root) {
        zsys_error ("registry: %s:%d:%d: %s", path, jerr.line, jerr.column,
                    jerr.text);
        *err_p = IH_E_CONFIG;
    }
    return root;
}

static void
s_stat_remember (ih_registry_t *self, const struct stat *st)
{
    self->stat_known = true;
    self->mtime = st->st_mtim;
    self->size = st->st_size;
    self->ino = st->st_ino;
}

//  Loads path into a table; on success also returns the file's stat.
static ih_err_t
s_load_table (const char *path, zhashx_t **table_p, struct stat *st)
{
    //  Stat first: if the file changes between stat and read, the next
    //  refresh sees a newer stat and reads again
    if (stat (path, st)) {
        zsys_error ("registry: cannot read %s: %s", path, strerror (errno));
        return IH_E_IO;
    }
    ih_err_t err = IH_OK;
    json_t *root = s_read_json (path, &err);
    if (!root)
        return err;
    char why[256];
    *table_p = s_table_parse (root, why, sizeof (why));
    json_decref (root);
    if (!*table_p) {
        zsys_error ("registry: %s: %s", path, why);
        return IH_E_CONFIG;
    }
    return IH_OK;
}

ih_err_t
ih_registry_load (const char *path, ih_registry_t **self_p)
{
    if (!path || !self_p)
        return IH_E_BADARG;
    *self_p = NULL;
    zhashx_t *table = NULL;
    struct stat st;
    ih_err_t err = s_load_table (path, &table, &st);
    if (err != IH_OK)
        return err;
    ih_registry_t *self = (ih_registry_t *) zmalloc (sizeof (ih_registry_t));
    assert (self);
    self->path = strdup (path);
    assert (self->path);
    self->sites = table;
    s_stat_remember (self, &st);
    *self_p = self;
    return IH_OK;
}

void
ih_registry_destroy (ih_registry_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ih_registry_t *self = *self_p;
        zhashx_destroy (&self->sites);
        free (self->path);
        free (self);
        *self_p = NULL;
    }
}

const ih_site_t *
ih_registry_lookup (ih_registry_t *self, const char *id)
{
    assert (self);
    if (!id)
        return NULL;
    return (const ih_site_t *) zhashx_lookup (self->sites, id);
}

size_t
ih_registry_size (ih_registry_t *self)
{
    assert (self);
    return zhashx_size (self->sites);
}

bool
ih_registry_refresh (ih_registry_t *self)
{
    assert (self);
    struct stat st;
    if (stat (self->path, &st)) {
        //  Gone for now (e.g. being replaced): keep what we have, quietly
        //  unless it is a new state
        if (self->stat_known)
            zsys_warning ("registry: cannot stat %s: %s; keeping %zu sites",
                          self->path, strerror (errno),
                          zhashx_size (self->sites));
        self->stat_known = false;
        return false;
    }
    if (self->stat_known && st.st_ino == self->ino &&
        st.st_size == self->size && st.st_mtim.tv_sec == self->mtime.tv_sec &&
        st.st_mtim.tv_nsec == self->mtime.tv_nsec)
        return false;

    zhashx_t *table = NULL;
    struct stat loaded;
    ih_err_t err = s_load_table (self->path, &table, &loaded);
    if (err != IH_OK) {
        //  Remember this version so a bad file is reported once, not on
        //  every unknown event, until it changes again
        s_stat_remember (self, &st);
        zsys_warning ("registry: keeping the previous %zu sites",
                      zhashx_size (self->sites));
        return false;
    }
    zhashx_destroy (&self->sites);
    self->sites = table;
    s_stat_remember (self, &loaded);
    zsys_info ("registry: reloaded %s, %zu sites", self->path,
               zhashx_size (self->sites));
    return true;
}

//  Writes root to path atomically: temp file, fsync, rename, fsync dir.
static ih_err_t
s_write_atomic (const char *path, json_t *root)
{
    char *tmp = zsys_sprintf ("%s.tmp.XXXXXX", path);
    assert (tmp);
    ih_err_t err = IH_E_IO;
    FILE *file = NULL;
    int fd = mkstemp (tmp);
    if (fd < 0) {
        zsys_error ("registry: cannot create %s: %s", tmp, strerror (errno));
        goto cleanup;
    }
    if (fchmod (fd, 0644)) {
        zsys_error ("registry: chmod %s: %s", tmp, strerror (errno));
        close (fd);
        unlink (tmp);
        goto cleanup;
    }
    file = fdopen (fd, "w");
    if (!file) {
        close (fd);
        unlink (tmp);
        goto cleanup;
    }
    if (json_dumpf (root, file, JSON_INDENT (2) | JSON_PRESERVE_ORDER) ||
        fputc ('\n', file) == EOF || fflush (file) || fsync (fd)) {
        zsys_error ("registry: cannot write %s: %s", tmp, strerror (errno));
        fclose (file);
        unlink (tmp);
        goto cleanup;
    }
    if (fclose (file)) {
        zsys_error ("registry: cannot write %s: %s", tmp, strerror (errno));
        unlink (tmp);
        goto cleanup;
    }
    if (rename (tmp, path)) {
        zsys_error ("registry: cannot rename %s to %s: %s", tmp, path,
                    strerror (errno));
        unlink (tmp);
        goto cleanup;
    }
    //  Make the rename itself durable
    char *dir = strdup (path);
    assert (dir);
    char *slash = strrchr (dir, '/');
    if (slash == dir)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    else
        strcpy (dir, ".");
    int dfd = open (dir, O_RDONLY);
    if (dfd >= 0) {
        fsync (dfd);
        close (dfd);
    }
    free (dir);
    err = IH_OK;
cleanup:
    zstr_free (&tmp);
    return err;
}

ih_err_t
ih_registry_add (const char *path, const ih_site_t *site)
{
    if (!path || !site)
        return IH_E_BADARG;
    if (!ih_event_name_valid (site->id)) {
        zsys_error ("registry: invalid site id");
        return IH_E_CONFIG;
    }
    if (!ih_registry_kind_valid (site->kind)) {
        zsys_error ("registry: site %s: unknown kind", site->id);
        return IH_E_CONFIG;
    }
    if (!ih_event_name_valid (site->district)) {
        zsys_error ("registry: site %s: invalid district", site->id);
        return IH_E_CONFIG;
    }
    json_t *root = NULL;
    if (access (path, F_OK) == 0) {
        ih_err_t err = IH_OK;
        root = s_read_json (path, &err);
        if (!root)
            return err;
        //  Never rewrite a file that would not load
        char why[256];
        zhashx_t *table = s_table_parse (root, why, sizeof (why));
        if (!table) {
            zsys_error ("registry: %s: %s", path, why);
            json_decref (root);
            return IH_E_CONFIG;
        }
        bool exists = zhashx_lookup (table, site->id) != NULL;
        zhashx_destroy (&table);
        if (exists) {
            zsys_error ("registry: site %s exists already in %s", site->id,
                        path);
            json_decref (root);
            return IH_E_CONFIG;
        }
    } else if (errno == ENOENT)
        root =
            json_pack ("{s:i, s:[]}", "version", IH_REGISTRY_VERSION, "sites");
    else {
        zsys_error ("registry: cannot read %s: %s", path, strerror (errno));
        return IH_E_IO;
    }
    assert (root);
    char hex[IH_KEY_HEX_SIZE];
    ih_key_to_hex (site->key, hex);
    json_t *obj =
        json_pack ("{s:s, s:s, s:s, s:s}", "id", site->id, "kind", site->kind,
                   "district", site->district, "key", hex);
    assert (obj);
    json_array_append_new (json_object_get (root, "sites"), obj);
    ih_err_t err = s_write_atomic (path, root);
    json_decref (root);
    return err;
}

//  --------------------------------------------------------------------------
//  Selftest

#define IH_REGISTRY_TEST_HEX                                                   \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void
s_write_file (const char *path, const char *text)
{
    //  Via a rename, as an editor or the CLI would, so the inode changes
    char *tmp = zsys_sprintf ("%s.new", path);
    FILE *file = fopen (tmp, "w");
    assert (file);
    fputs (text, file);
    fclose (file);
    assert (rename (tmp, path) == 0);
    zstr_free (&tmp);
}

void
ih_registry_test (bool verbose)
{
    printf (" * ih_registry: ");
    if (verbose)
        printf ("\n");

    char tmpl[] = "/tmp/ih_registry_test.XXXXXX";
    char *dir = mkdtemp (tmpl);
    assert (dir);
    char *path = zsys_sprintf ("%s/registry.json", dir);
    assert (path);

    assert (ih_registry_kind_valid ("incubator"));
    assert (ih_registry_kind_valid ("auditor"));
    assert (!ih_registry_kind_valid ("Incubator"));
    assert (!ih_registry_kind_valid (NULL));

    //  Missing file
    ih_registry_t *registry = NULL;
    assert (ih_registry_load (path, &registry) == IH_E_IO);
    assert (registry == NULL);

    //  Add creates the file, mode 0644
    ih_key_t *key = ih_key_new ("lh-inc-01");
    assert (key);
    ih_site_t site;
    memset (&site, 0, sizeof (site));
    strcpy (site.id, "lh-inc-01");
    strcpy (site.kind, "incubator");
    strcpy (site.district, "laoshan");
    memcpy (site.key, ih_key_public (key), IH_KEY_PUBLIC_SIZE);
    assert (ih_registry_add (path, &site) == IH_OK);
    struct stat st;
    assert (stat (path, &st) == 0);
    assert ((st.st_mode & 0777) == 0644);
    //  The same id again
    assert (ih_registry_add (path, &site) == IH_E_CONFIG);
    //  Bad kind, bad district
    ih_site_t bad = site;
    strcpy (bad.id, "x-1");
    strcpy (bad.kind, "pirate");
    assert (ih_registry_add (path, &bad) == IH_E_CONFIG);
    strcpy (bad.kind, "remote");
    strcpy (bad.district, "Lao Shan");
    assert (ih_registry_add (path, &bad) == IH_E_CONFIG);

    assert (ih_registry_load (path, &registry) == IH_OK);
    assert (ih_registry_size (registry) == 1);
    const ih_site_t *found = ih_registry_lookup (registry, "lh-inc-01");
    assert (found);
    assert (streq (found->district, "laoshan"));
    assert (streq (found->kind, "incubator"));
    assert (memcmp (found->key, ih_key_public (key), IH_KEY_PUBLIC_SIZE) == 0);
    assert (ih_registry_lookup (registry, "nobody") == NULL);
    assert (ih_registry_lookup (registry, NULL) == NULL);
    //  Unchanged file: no reload
    assert (!ih_registry_refresh (registry));

    //  A second site added by "another process": refresh picks it up
    strcpy (site.id, "off-de-01");
    strcpy (site.kind, "offshore");
    strcpy (site.district, "huangdao");
    assert (ih_registry_add (path, &site) == IH_OK);
    assert (ih_registry_refresh (registry));
    assert (ih_registry_size (registry) == 2);
    assert (ih_registry_lookup (registry, "off-de-01"));
    assert (!ih_registry_refresh (registry));

    //  A bad edit is refused and the old sites are kept
    char *saved = NULL;
    {
        FILE *file = fopen (path, "r");
        assert (file);
        zchunk_t *chunk = zchunk_read (file, 1 << 20);
        fclose (file);
        saved = zchunk_strdup (chunk);
        zchunk_destroy (&chunk);
    }
    s_write_file (path, "{ \"version\": 1, \"sites\": [ { \"id\": ");
    assert (!ih_registry_refresh (registry));
    assert (ih_registry_size (registry) == 2);
    assert (!ih_registry_refresh (registry)); //  reported once
    ih_site_t third = site;
    strcpy (third.id, "ls-inc-03");
    assert (ih_registry_add (path, &third) == IH_E_CONFIG); //  no rewrite

    //  Each kind of invalid document
    const char *bad_docs[] = {
        "[]",
        "{\"version\": 2, \"sites\": []}",
        "{\"version\": 1}",
        "{\"version\": 1, \"sites\": [1]}",
        "{\"version\": 1, \"sites\": [{\"id\": \"a\", \"kind\": \"bureau\", "
        "\"district\": \"shinan\"}]}",
        "{\"version\": 1, \"sites\": [{\"id\": \"A\", \"kind\": \"bureau\", "
        "\"district\": \"shinan\", \"key\": \"" IH_REGISTRY_TEST_HEX "\"}]}",
        "{\"version\": 1, \"sites\": [{\"id\": \"a\", \"kind\": \"bureau\", "
        "\"district\": \"shinan\", \"key\": \"abc\"}]}",
        "{\"version\": 1, \"sites\": [{\"id\": \"a\", \"kind\": \"bureau\", "
        "\"district\": \"shinan\", \"key\": \"" IH_REGISTRY_TEST_HEX "\"},"
        "{\"id\": \"a\", \"kind\": \"bureau\", "
        "\"district\": \"shinan\", \"key\": \"" IH_REGISTRY_TEST_HEX "\"}]}",
    };
    for (size_t i = 0; i < sizeof (bad_docs) / sizeof (bad_docs[0]); i++) {
        s_write_file (path, bad_docs[i]);
        ih_registry_t *other = NULL;
        assert (ih_registry_load (path, &other) == IH_E_CONFIG);
        assert (other == NULL);
        assert (!ih_registry_refresh (registry));
        assert (ih_registry_size (registry) == 2);
    }
    //  A good document with an extra field loads
    s_write_file (path,
                  "{\"version\": 1, \"sites\": [{\"id\": \"a\", \"kind\": "
                  "\"bureau\", \"district\": \"shinan\", \"note\": \"hq\", "
                  "\"key\": \"" IH_REGISTRY_TEST_HEX "\"}]}");
    assert (ih_registry_refresh (registry));
    assert (ih_registry_size (registry) == 1);
    assert (ih_registry_lookup (registry, "a"));

    //  The saved file is fine again
    s_write_file (path, saved);
    assert (ih_registry_refresh (registry));
    assert (ih_registry_size (registry) == 2);
    zstr_free (&saved);

    ih_registry_destroy (&registry);
    ih_registry_destroy (&registry);
    assert (registry == NULL);
    ih_key_destroy (&key);
    remove (path);
    zstr_free (&path);
    rmdir (dir);
    printf ("OK\n");
}
