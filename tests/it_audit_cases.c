/*  =========================================================================
    it_audit_cases - each way of tampering with the log fails the audit

    Twenty-four events of two sites go through a real hub into a real LMDB
    log; the audit of that log passes. Each case then edits a fresh copy of
    the data file with raw LMDB, as someone with write access to the hub's
    disk could, and runs `incuhub audit` on the copy, which must exit 3 and
    print `audit: FAILED at hub_seq=N: ...` naming the right hub sequence
    (or `at site=ID` when only the hub's own tables give it away):

      removed      one record removed, later ones renumbered to hide it
      swapped      two records of the same site swapped
      truncated    the last records deleted, the sites table left as is
      forged       a record replaced by a valid event signed by a key that
                   is not the site's registered key
      outsider     a record from a site missing from the registry added
      hole         one record deleted, leaving a hole in hub_seq
      index        an index entry pointing at another hub_seq
      no-head      a site's entry deleted from the sites table
      ghost        a sites table entry for a site without events
      undecodable  a record whose version byte is changed

    And one that must pass, because the audit cannot see it (documented in
    docs/architecture.md): a record's received time set to 0. The case of
    a changed payload byte is it_audit_tamper.
    =========================================================================*/
#include <lmdb.h>
#include <sys/stat.h>
#include "ih_record.h"
#include "ih_testkit.h"

#define S_EVENTS 24
#define S_SITE_A "laixi-inc-02"
#define S_SITE_B "shinan-inc-01"

//  Every third event is site B's; the others are site A's.
static const char *
s_site_of (uint64_t hub_seq)
{
    return hub_seq % 3 == 0 ? S_SITE_B : S_SITE_A;
}

//  The seq an event has within its site's chain.
static uint64_t
s_seq_of (uint64_t hub_seq)
{
    uint64_t seq = 0;
    for (uint64_t h = 1; h <= hub_seq; h++)
        if (streq (s_site_of (h), s_site_of (hub_seq)))
            seq++;
    return seq;
}

//  A copy of the log opened for raw editing in one write transaction.
typedef struct {
    char dir[600];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi log, index, sites;
} s_copy_t;

static const char *s_tmp;  //  the test's temporary directory
static const char *s_data; //  the real hub's data directory

static void
s_open (s_copy_t *self, const char *name)
{
    snprintf (self->dir, sizeof self->dir, "%s/%s", s_tmp, name);
    IH_CHECK (mkdir (self->dir, 0700) == 0, "mkdir %s", self->dir);
    char from[600], to[700];
    snprintf (from, sizeof from, "%s/data.mdb", s_data);
    snprintf (to, sizeof to, "%s/data.mdb", self->dir);
    ih_tk_copy (from, to);
    IH_CHECK (mdb_env_create (&self->env) == 0, "mdb_env_create");
    IH_CHECK (mdb_env_set_maxdbs (self->env, 4) == 0, "maxdbs");
    IH_CHECK (mdb_env_set_mapsize (self->env, (size_t) 1 << 30) == 0, "map");
    IH_CHECK (mdb_env_open (self->env, self->dir, 0, 0644) == 0, "open %s",
              self->dir);
    IH_CHECK (mdb_txn_begin (self->env, NULL, 0, &self->txn) == 0, "txn");
    IH_CHECK (mdb_dbi_open (self->txn, "log", 0, &self->log) == 0 &&
                  mdb_dbi_open (self->txn, "index", 0, &self->index) == 0 &&
                  mdb_dbi_open (self->txn, "sites", 0, &self->sites) == 0,
              "dbi_open");
}

static void
s_close (s_copy_t *self)
{
    IH_CHECK (mdb_txn_commit (self->txn) == 0, "commit %s", self->dir);
    mdb_env_close (self->env);
}

//  The bureau's registry events take the log's first hub_seqs: the test's
//  event n is at hub_seq s_base + n. The accessors below take n.
static uint64_t s_base;

//  The stored record of event n, copied into a zchunk (caller destroys).
static zchunk_t *
s_get (s_copy_t *self, uint64_t n)
{
    uint64_t hub_seq = s_base + n;
    uint8_t k[8];
    ih_record_put_u64 (k, hub_seq);
    MDB_val key = {8, k}, val;
    IH_CHECK (mdb_get (self->txn, self->log, &key, &val) == 0,
              "no hub_seq=%" PRIu64, hub_seq);
    return zchunk_new (val.mv_data, val.mv_size);
}

static void
s_put (s_copy_t *self, uint64_t n, const void *data, size_t size)
{
    uint64_t hub_seq = s_base + n;
    uint8_t k[8];
    ih_record_put_u64 (k, hub_seq);
    MDB_val key = {8, k}, val = {size, (void *) data};
    IH_CHECK (mdb_put (self->txn, self->log, &key, &val, 0) == 0,
              "put hub_seq=%" PRIu64, hub_seq);
}

static void
s_del (s_copy_t *self, uint64_t n)
{
    uint64_t hub_seq = s_base + n;
    uint8_t k[8];
    ih_record_put_u64 (k, hub_seq);
    MDB_val key = {8, k};
    IH_CHECK (mdb_del (self->txn, self->log, &key, NULL) == 0,
              "del hub_seq=%" PRIu64, hub_seq);
}

//  Hash of the signed event inside the record of event n.
static void
s_event_hash (s_copy_t *self, uint64_t n, uint8_t *hash)
{
    uint64_t hub_seq = s_base + n;
    zchunk_t *record = s_get (self, n);
    uint64_t received;
    const uint8_t *event;
    size_t size;
    IH_CHECK (ih_record_decode (zchunk_data (record), zchunk_size (record),
                                &received, &event, &size) == IH_OK,
              "decode hub_seq=%" PRIu64, hub_seq);
    ih_event_hash (event, size, hash);
    zchunk_destroy (&record);
}

static char *s_registry;

//  Runs the audit on dir; it must exit with status and, unless expect is
//  NULL, print expect (a prefix of its stderr line after "audit: FAILED
//  at ") and mention words on stderr.
static void
s_expect (const char *name, const char *dir, int status, const char *expect,
          const char *words)
{
    const char *args[] = {
        "audit", "--data", dir, "--bureau-key", ih_tk_bureau_pub (s_registry),
        NULL};
    char *err = NULL;
    int64_t start = ih_tk_now ();
    int got = ih_tk_run (s_tmp, "incuhub", args, NULL, NULL, &err, 30000);
    IH_CHECK (got == status, "%s: audit exited %d, not %d: %s", name, got,
              status, err ? err : "");
    if (expect) {
        char line[200];
        snprintf (line, sizeof line, "audit: FAILED at %s", expect);
        IH_CHECK (strstr (err, line), "%s: expected '%s' in: %s", name, line,
                  err);
    }
    if (words)
        IH_CHECK (strstr (err, words), "%s: expected '%s' in: %s", name, words,
                  err);
    printf ("  %-12s exit %d in %" PRId64 " ms%s%s", name, got,
            ih_tk_now () - start, err && *err ? ": " : "\n", err ? err : "");
    free (err);
}

int
main (void)
{
    s_tmp = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256], keys[512];
    ih_tk_paths (s_tmp, data, registry, ingest, pub);
    snprintf (keys, sizeof keys, "%s/other-keys", s_tmp);
    IH_CHECK (mkdir (keys, 0700) == 0, "mkdir %s", keys);
    s_data = data;
    s_registry = registry;

    ih_tk_site_t site_a, site_b;
    ih_tk_site_init (&site_a, s_tmp, registry, S_SITE_A, "incubator", "laixi");
    ih_tk_site_init (&site_b, s_tmp, registry, S_SITE_B, "incubator", "shinan");
    ih_proc_t *hub =
        ih_tk_hub_start (s_tmp, data, registry, ingest, pub, NULL, NULL);
    zsock_t *dealer = zsock_new_dealer (ingest);
    zsock_set_rcvtimeo (dealer, 5000);
    s_base = ih_tk_journal_count (s_registry);
    for (uint64_t n = 1; n <= S_EVENTS; n++) {
        char json[64];
        snprintf (json, sizeof json, "{\"n\":%" PRIu64 "}", n);
        ih_tk_site_t *site =
            streq (s_site_of (n), S_SITE_A) ? &site_a : &site_b;
        size_t size;
        uint8_t *bytes = ih_tk_site_sign (site, "mentor.joined", json, &size);
        IH_CHECK (site->seq == s_seq_of (n), "test layout");
        zmsg_t *msg = ih_wire_event (bytes, size);
        free (bytes);
        zmsg_send (&msg, dealer);
        zmsg_t *reply = zmsg_recv (dealer);
        ih_wire_t wire;
        IH_CHECK (reply && ih_wire_decode (reply, &wire) == IH_OK &&
                      wire.kind == IH_WIRE_ACK && wire.hub_seq == s_base + n,
                  "event %" PRIu64 " not acked as hub_seq %" PRIu64, n,
                  s_base + n);
        zmsg_destroy (&reply);
    }
    zsock_destroy (&dealer);
    ih_tk_stop (&hub, "hub");
    int64_t start = ih_tk_now ();

    s_expect ("untouched", data, 0, NULL, NULL);
    char expect[128];
    s_copy_t copy;

    //  One record removed and the later ones renumbered: no hole, but the
    //  next event of the same site no longer follows its predecessor.
    uint64_t victim = 10;
    s_open (&copy, "removed");
    s_del (&copy, victim);
    for (uint64_t h = victim + 1; h <= S_EVENTS; h++) {
        zchunk_t *record = s_get (&copy, h);
        s_del (&copy, h);
        s_put (&copy, h - 1, zchunk_data (record), zchunk_size (record));
        zchunk_destroy (&record);
    }
    s_close (&copy);
    uint64_t next = victim + 1;
    while (!streq (s_site_of (next), s_site_of (victim)))
        next++;
    snprintf (expect, sizeof expect, "hub_seq=%" PRIu64 ":", s_base + next - 1);
    s_expect ("removed", copy.dir, 3, expect, "(IH_E_GAP)");

    //  Two records of the same site swapped
    IH_CHECK (streq (s_site_of (4), s_site_of (5)), "test layout");
    s_open (&copy, "swapped");
    zchunk_t *four = s_get (&copy, 4);
    zchunk_t *five = s_get (&copy, 5);
    s_put (&copy, 4, zchunk_data (five), zchunk_size (five));
    s_put (&copy, 5, zchunk_data (four), zchunk_size (four));
    zchunk_destroy (&four);
    zchunk_destroy (&five);
    s_close (&copy);
    snprintf (expect, sizeof expect, "hub_seq=%" PRIu64 ":", s_base + 4);
    s_expect ("swapped", copy.dir, 3, expect, "(IH_E_GAP)");

    //  The last three records cut off; sites table and index left alone.
    //  The chains that remain are whole: only the sites table tells.
    s_open (&copy, "truncated");
    for (uint64_t h = S_EVENTS - 2; h <= S_EVENTS; h++)
        s_del (&copy, h);
    s_close (&copy);
    s_expect ("truncated", copy.dir, 3, "site=" S_SITE_A ":", "cut off");

    //  A valid event, chained correctly, signed by another key for site A
    uint64_t forged = 16;
    IH_CHECK (streq (s_site_of (forged), S_SITE_A), "test layout");
    ih_tk_site_t forger;
    ih_tk_site_init (&forger, keys, NULL, S_SITE_A, "incubator", "laixi");
    s_open (&copy, "forged");
    uint64_t before = forged - 1;
    while (!streq (s_site_of (before), S_SITE_A))
        before--;
    forger.seq = s_seq_of (forged) - 1;
    s_event_hash (&copy, before, forger.prev);
    size_t size;
    uint8_t *bytes =
        ih_tk_site_sign (&forger, "mentor.joined", "{\"n\":999}", &size);
    uint8_t *record;
    size_t record_size;
    IH_CHECK (ih_record_encode (ih_event_now (), bytes, size, &record,
                                &record_size) == IH_OK,
              "encode");
    s_put (&copy, forged, record, record_size);
    free (record);
    free (bytes);
    s_close (&copy);
    ih_tk_site_fini (&forger);
    snprintf (expect, sizeof expect, "hub_seq=%" PRIu64 ":", s_base + forged);
    s_expect ("forged", copy.dir, 3, expect, "(IH_E_BADSIG)");

    //  A record added from a site missing from the registry
    ih_tk_site_t outsider;
    ih_tk_site_init (&outsider, keys, NULL, "jimo-inc-09", "incubator", "jimo");
    s_open (&copy, "outsider");
    bytes = ih_tk_site_sign (&outsider, "mentor.joined", "{\"n\":1}", &size);
    IH_CHECK (ih_record_encode (ih_event_now (), bytes, size, &record,
                                &record_size) == IH_OK,
              "encode");
    s_put (&copy, S_EVENTS + 1, record, record_size);
    free (record);
    free (bytes);
    s_close (&copy);
    ih_tk_site_fini (&outsider);
    snprintf (expect, sizeof expect, "hub_seq=%" PRIu64 ":",
              s_base + S_EVENTS + 1);
    s_expect ("outsider", copy.dir, 3, expect, "(IH_E_UNKNOWN_SITE)");

    //  A hole in hub_seq
    s_open (&copy, "hole");
    s_del (&copy, 9);
    s_close (&copy);
    snprintf (expect, sizeof expect, "hub_seq=%" PRIu64 ":", s_base + 9);
    s_expect ("hole", copy.dir, 3, expect, "(IH_E_GAP)");

    //  An index entry pointing at another event
    s_open (&copy, "index");
    uint8_t ikey[64], hub6[8];
    size_t ilen = strlen (s_site_of (5));
    memcpy (ikey, s_site_of (5), ilen);
    ikey[ilen] = 0;
    ih_record_put_u64 (ikey + ilen + 1, s_seq_of (5));
    ih_record_put_u64 (hub6, s_base + 6);
    MDB_val key = {ilen + 9, ikey}, val = {8, hub6};
    IH_CHECK (mdb_put (copy.txn, copy.index, &key, &val, 0) == 0, "index");
    s_close (&copy);
    snprintf (expect, sizeof expect, "hub_seq=%" PRIu64 ":", s_base + 5);
    char words[64];
    snprintf (words, sizeof words, "to hub_seq=%" PRIu64, s_base + 6);
    s_expect ("index", copy.dir, 3, expect, words);

    //  Site B's chain head removed from the sites table
    s_open (&copy, "no-head");
    key.mv_size = strlen (S_SITE_B);
    key.mv_data = (void *) S_SITE_B;
    IH_CHECK (mdb_del (copy.txn, copy.sites, &key, NULL) == 0, "del site");
    s_close (&copy);
    s_expect ("no-head", copy.dir, 3, "site=" S_SITE_B ":", "(IH_E_MISSING)");

    //  A sites table entry for a site that has no events
    s_open (&copy, "ghost");
    uint8_t head[8 + IH_HASH_SIZE] = {0};
    ih_record_put_u64 (head, 3);
    key.mv_size = strlen ("ghost-inc-00");
    key.mv_data = (void *) "ghost-inc-00";
    val.mv_size = sizeof head;
    val.mv_data = head;
    IH_CHECK (mdb_put (copy.txn, copy.sites, &key, &val, 0) == 0, "put site");
    s_close (&copy);
    s_expect ("ghost", copy.dir, 3, "site=ghost-inc-00:", "no event");

    //  A record that does not decode (unknown record version)
    s_open (&copy, "undecodable");
    zchunk_t *twelve = s_get (&copy, 12);
    zchunk_data (twelve)[0] = 9;
    s_put (&copy, 12, zchunk_data (twelve), zchunk_size (twelve));
    zchunk_destroy (&twelve);
    s_close (&copy);
    snprintf (expect, sizeof expect, "hub_seq=%" PRIu64 ":", s_base + 12);
    s_expect ("undecodable", copy.dir, 3, expect, "does not decode");

    //  received set to 0: not covered by any signature, so the audit
    //  passes (a limitation, not a goal); it must not call it undecodable.
    s_open (&copy, "received-0");
    zchunk_t *three = s_get (&copy, 3);
    memset (zchunk_data (three) + 1, 0, 8);
    s_put (&copy, 3, zchunk_data (three), zchunk_size (three));
    zchunk_destroy (&three);
    s_close (&copy);
    s_expect ("received-0", copy.dir, 0, NULL, NULL);

    printf ("  all cases in %" PRId64 " ms\n", ih_tk_now () - start);
    ih_tk_site_fini (&site_a);
    ih_tk_site_fini (&site_b);
    ih_tk_cleanup ();
    printf ("it_audit_cases: OK\n");
    return 0;
}
