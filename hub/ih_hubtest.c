/*  =========================================================================
    ih_hubtest - selftest support for the hub modules

    What the selftests of ih_registry, ih_journal, ih_zap, ih_publish,
    ih_replay and ih_ingest share: a fixture with a registry pinned to a
    bureau, the bureau's registry changes signed in memory or through its
    journal and admitted as the hub admits them, and CURVE test clients
    (see ih_hubtest.h). Test code only: it asserts on every failure.
    =========================================================================*/
#include <czmq.h>
#include "ih_curve.h"
#include "ih_hubtest.h"
#include "ih_journal.h"
#include "ih_json.h"

ih_hubtest_t *
ih_hubtest_new (const char *name)
{
    assert (name);
    ih_hubtest_t *self = (ih_hubtest_t *) zmalloc (sizeof (ih_hubtest_t));
    assert (self);
    self->dir = zsys_sprintf ("/tmp/%s.XXXXXX", name);
    assert (self->dir);
    assert (mkdtemp (self->dir));
    self->journal = ih_hubtest_path (self, "registry.journal");
    self->bureau = ih_key_new (IH_HUBTEST_BUREAU);
    assert (self->bureau);
    self->registry = ih_registry_new (self->bureau);
    assert (self->registry);
    return self;
}

void
ih_hubtest_destroy (ih_hubtest_t **self_p)
{
    assert (self_p);
    ih_hubtest_t *self = *self_p;
    if (!self)
        return;
    ih_registry_destroy (&self->registry);
    ih_key_destroy (&self->bureau);
    //  The log's LMDB files, key files, sockets: whatever the test left
    zdir_t *tree = zdir_new (self->dir, NULL);
    if (tree) {
        zdir_remove (tree, true);
        zdir_destroy (&tree);
    }
    zstr_free (&self->journal);
    zstr_free (&self->dir);
    free (self);
    *self_p = NULL;
}

char *
ih_hubtest_path (ih_hubtest_t *self, const char *name)
{
    assert (self && name);
    char *path = zsys_sprintf ("%s/%s", self->dir, name);
    assert (path);
    return path;
}

void
ih_hubtest_site_added (ih_regchange_t *change, ih_key_t *key, const char *kind,
                       const char *district)
{
    memset (change, 0, sizeof (*change));
    change->op = IH_REG_OP_SITE_ADDED;
    snprintf (change->site, sizeof (change->site), "%s", ih_key_name (key));
    snprintf (change->kind, sizeof (change->kind), "%s", kind);
    snprintf (change->district, sizeof (change->district), "%s", district);
    memcpy (change->sign_key, ih_key_public (key), IH_KEY_PUBLIC_SIZE);
    memcpy (change->curve_key, ih_key_curve_public (key), IH_KEY_CURVE_SIZE);
}

void
ih_hubtest_key_rotated (ih_regchange_t *change, ih_key_t *key,
                        uint64_t from_seq)
{
    memset (change, 0, sizeof (*change));
    change->op = IH_REG_OP_KEY_ROTATED;
    snprintf (change->site, sizeof (change->site), "%s", ih_key_name (key));
    memcpy (change->sign_key, ih_key_public (key), IH_KEY_PUBLIC_SIZE);
    memcpy (change->curve_key, ih_key_curve_public (key), IH_KEY_CURVE_SIZE);
    change->from_seq = from_seq;
}

void
ih_hubtest_key_revoked (ih_regchange_t *change, const char *site,
                        const char *reason)
{
    memset (change, 0, sizeof (*change));
    change->op = IH_REG_OP_KEY_REVOKED;
    snprintf (change->site, sizeof (change->site), "%s", site);
    if (reason)
        snprintf (change->reason, sizeof (change->reason), "%s", reason);
}

void
ih_hubtest_permissions (ih_regchange_t *change, const char *kind,
                        ih_read_scope_t read, const char **publish)
{
    memset (change, 0, sizeof (*change));
    change->op = IH_REG_OP_PERMISSIONS;
    snprintf (change->kind, sizeof (change->kind), "%s", kind);
    for (size_t i = 0; publish && publish[i]; i++) {
        assert (i < IH_REG_PATTERNS_MAX);
        snprintf (change->publish[i], sizeof (change->publish[i]), "%s",
                  publish[i]);
        change->publish_count = i + 1;
    }
    change->read = read;
}

uint8_t *
ih_hubtest_sign (ih_key_t *key, uint64_t seq, const uint8_t *prev,
                 const char *type, uint64_t ts, const char *json,
                 size_t *size_p)
{
    ih_event_t event;
    memset (&event, 0, sizeof (event));
    snprintf (event.site, sizeof (event.site), "%s", ih_key_name (key));
    snprintf (event.type, sizeof (event.type), "%s", type);
    event.seq = seq;
    event.ts = ts ? ts : ih_event_now ();
    if (prev)
        memcpy (event.prev, prev, IH_HASH_SIZE);
    uint8_t *data = NULL;
    if (json) {
        json_t *object = json_loads (json, 0, NULL);
        assert (object);
        ih_err_t err = ih_json_to_msgpack (object, &data, &event.data_size);
        assert (err == IH_OK);
        json_decref (object);
        event.data = data;
    }
    uint8_t *bytes = NULL;
    ih_err_t err = ih_event_sign (&event, key, &bytes, size_p);
    assert (err == IH_OK);
    free (data);
    return bytes;
}

void
ih_hubtest_admit (ih_registry_t *registry, const uint8_t *bytes, size_t size,
                  ih_registry_last_fn *last, void *arg, ih_err_t expect,
                  const char *expect_why)
{
    ih_event_t event;
    ih_err_t err = ih_event_decode (bytes, size, &event);
    assert (err == IH_OK);
    char why[256] = "";
    err = ih_registry_admit (registry, &event, bytes, size, NULL, last, arg,
                             why, sizeof why);
    if (err != expect || (expect_why && !streq (why, expect_why)))
        fprintf (stderr, "hubtest: admit %s: %s (%s), expected %s (%s)\n",
                 event.type, ih_err_name (err), why, ih_err_name (expect),
                 expect_why ? expect_why : "any reason");
    assert (err == expect);
    if (expect_why)
        assert (streq (why, expect_why));
    if (err == IH_OK) {
        uint64_t version = ih_registry_version (registry);
        ih_registry_apply (registry, &event);
        assert (ih_registry_version (registry) == version + 1);
    }
}

void
ih_hubtest_append (const char *journal, ih_key_t *signer,
                   const ih_regchange_t *change, ih_registry_t *registry,
                   uint8_t **bytes_p, size_t *size_p)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    ih_err_t err = ih_journal_append (journal, signer, change, &bytes, &size);
    assert (err == IH_OK);
    if (registry)
        ih_hubtest_admit (registry, bytes, size, NULL, NULL, IH_OK, NULL);
    if (bytes_p) {
        *bytes_p = bytes;
        *size_p = size;
    } else
        free (bytes);
}

void
ih_hubtest_change (ih_hubtest_t *self, const ih_regchange_t *change)
{
    assert (self);
    ih_hubtest_append (self->journal, self->bureau, change, self->registry,
                       NULL, NULL);
}

void
ih_hubtest_add_site (ih_hubtest_t *self, ih_key_t *key, const char *kind,
                     const char *district)
{
    ih_regchange_t change;
    ih_hubtest_site_added (&change, key, kind, district);
    ih_hubtest_change (self, &change);
}

uint8_t *
ih_hubtest_chain_sign (const ih_hubtest_chain_t *chain, const char *type,
                       uint64_t ts, const char *json, size_t *size_p)
{
    assert (chain);
    return ih_hubtest_sign (chain->key, chain->seq + 1, chain->prev, type, ts,
                            json, size_p);
}

void
ih_hubtest_chain_advance (ih_hubtest_chain_t *chain, const uint8_t *bytes,
                          size_t size, uint64_t received)
{
    assert (chain);
    ih_event_t event;
    ih_err_t err = ih_event_decode (bytes, size, &event);
    assert (err == IH_OK);
    assert (event.seq == chain->seq + 1);
    assert (memcmp (event.prev, chain->prev, IH_HASH_SIZE) == 0);
    if (chain->log) {
        uint64_t hub_seq, expected;
        err = ih_log_append (chain->log, &event, bytes, size,
                             received ? received : ih_event_now (), &hub_seq,
                             &expected);
        assert (err == IH_OK);
    }
    chain->seq++;
    ih_event_hash (bytes, size, chain->prev);
}

void
ih_hubtest_chain_append (ih_hubtest_chain_t *chain, const char *type,
                         uint64_t ts, const char *json, uint64_t received)
{
    size_t size;
    uint8_t *bytes = ih_hubtest_chain_sign (chain, type, ts, json, &size);
    ih_hubtest_chain_advance (chain, bytes, size, received);
    free (bytes);
}

zsock_t *
ih_hubtest_client (int type, const char *endpoint, ih_key_t *key, ih_key_t *hub)
{
    zsock_t *sock = zsock_new (type);
    assert (sock);
    ih_err_t err = ih_curve_client (sock, key, hub);
    assert (err == IH_OK);
    int rc = zsock_connect (sock, "%s", endpoint);
    assert (rc == 0);
    return sock;
}
