/*  =========================================================================
    it_tree - the log's Merkle tree, signed checkpoints and their proofs

    Issue 3's tamper evidence, end to end:

      1. the log alone (ih_log): the tree's root at every size equals a
         naive RFC 6962 recomputation from the stored records; inclusion
         and consistency proofs verify with ih_merkle_verify_*; an aborted
         batch leaves no tree node; the tree survives a reopen; a format-1
         log (no tree) is upgraded on open.
      2. the ingest actor, in-process, with the hub's key: it signs
         checkpoints every N events inside the batch and after a quiet
         interval from its poll loop; STATUS reports them; another thread
         reads proofs through ih_ingest_log while it runs.
      3. `incuhub verify-proof` on proofs made with ih_log_*: inclusion
         proofs of random events hold; a changed record or the wrong
         checkpoint fails; a consistency proof between two real
         checkpoints holds, and against a rewritten (re-signed) log fails.
      4. tampered copies of the log, edited with raw LMDB (one record's
         received time changed, a record removed, two records of
         different sites swapped with the index fixed to match, the tail
         cut with the hub's tables fixed to match): `incuhub audit
         --hub-key` exits 3 naming where, and the actor's START (hub start
         with a key) refuses, naming the first bad hub_seq.
    =========================================================================*/
#include <jansson.h>
#include <lmdb.h>
#include <sodium.h>
#include <sys/stat.h>
#include "ih_checkpoint.h"
#include "ih_ingest.h"
#include "ih_merkle.h"
#include "ih_record.h"
#include "ih_testkit.h"

#define S_EVENTS 33
#define S_SITE_A "laixi-inc-02"
#define S_SITE_B "shinan-inc-01"
#define S_HUB "hub-qd"

static const char *s_tmp;
static char s_registry[512], s_hub_key[600], s_hub_pub[600];

//  --------------------------------------------------------------------------
//  Naive RFC 6962 MTH over leaf hashes

static void
s_mth (uint8_t (*leaves)[32], uint64_t n, uint8_t *out)
{
    if (n == 0) {
        crypto_hash_sha256 (out, NULL, 0);
        return;
    }
    if (n == 1) {
        memcpy (out, leaves[0], 32);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t left[32], right[32];
    s_mth (leaves, k, left);
    s_mth (leaves + k, n - k, right);
    ih_merkle_node_hash (left, right, out);
}

typedef struct {
    uint8_t (*leaves)[32];
    zchunk_t *records[S_EVENTS * 4 + 1]; //  [hub_seq]
    uint64_t count;
} s_leaves_t;

static int
s_leaf_fn (uint64_t hub_seq, uint64_t received, const uint8_t *bytes,
           size_t size, void *arg)
{
    (void) received;
    s_leaves_t *self = (s_leaves_t *) arg;
    IH_CHECK (hub_seq == self->count + 1, "hub_seq %" PRIu64, hub_seq);
    ih_merkle_leaf_hash (bytes, size, self->leaves[self->count]);
    if (hub_seq <= S_EVENTS * 4)
        self->records[hub_seq] = zchunk_new (bytes, size);
    self->count++;
    return 0;
}

static void
s_leaves_load (s_leaves_t *self, ih_log_t *log)
{
    memset (self, 0, sizeof *self);
    self->leaves = calloc (S_EVENTS * 4 + 1, 32);
    assert (self->leaves);
    IH_CHECK (ih_log_read_raw (log, 1, 0, s_leaf_fn, self) == IH_OK, "read");
}

static void
s_leaves_free (s_leaves_t *self)
{
    for (size_t i = 0; i <= S_EVENTS * 4; i++)
        zchunk_destroy (&self->records[i]);
    free (self->leaves);
}

//  Every root, the given proofs, all against the naive tree.
static void
s_check_tree (ih_log_t *log, const char *what)
{
    s_leaves_t leaves;
    s_leaves_load (&leaves, log);
    uint64_t n = leaves.count;
    IH_CHECK (n == ih_log_last (log), "%s: count", what);
    uint8_t root[32], naive[32];
    for (uint64_t size = 0; size <= n; size++) {
        IH_CHECK (ih_log_root (log, size, root) == IH_OK, "%s: root", what);
        s_mth (leaves.leaves, size, naive);
        IH_CHECK (memcmp (root, naive, 32) == 0,
                  "%s: root of size %" PRIu64 " differs", what, size);
    }
    IH_CHECK (ih_log_root (log, n + 1, root) == IH_E_BADARG, "beyond");
    for (uint64_t size = 1; size <= n; size++) {
        s_mth (leaves.leaves, size, naive);
        for (uint64_t hub_seq = 1; hub_seq <= size; hub_seq++) {
            uint8_t *path;
            size_t len;
            IH_CHECK (ih_log_inclusion_proof (log, hub_seq, size, &path,
                                              &len) == IH_OK,
                      "inclusion");
            IH_CHECK (ih_merkle_verify_inclusion (hub_seq - 1, size,
                                                  leaves.leaves[hub_seq - 1],
                                                  path, len, naive) == IH_OK,
                      "%s: inclusion %" PRIu64 " in %" PRIu64, what, hub_seq,
                      size);
            //  Another leaf does not pass for this one
            IH_CHECK (ih_merkle_verify_inclusion (
                          hub_seq - 1, size, leaves.leaves[hub_seq % size],
                          path, len, naive) == (size == 1 ? IH_OK : IH_E_PROOF),
                      "%s: wrong leaf passed", what);
            free (path);
        }
        for (uint64_t old = 0; old <= size; old += 1 + old / 3) {
            uint8_t old_root[32], *proof;
            size_t len;
            s_mth (leaves.leaves, old, old_root);
            IH_CHECK (ih_log_consistency_proof (log, old, size, &proof, &len) ==
                          IH_OK,
                      "consistency");
            IH_CHECK (ih_merkle_verify_consistency (old, size, old_root, naive,
                                                    proof, len) == IH_OK,
                      "%s: consistency %" PRIu64 "->%" PRIu64, what, old, size);
            free (proof);
        }
    }
    uint8_t *path;
    size_t len;
    IH_CHECK (ih_log_inclusion_proof (log, 0, n, &path, &len) == IH_E_BADARG,
              "hub_seq 0");
    IH_CHECK (ih_log_consistency_proof (log, 2, 1, &path, &len) == IH_E_BADARG,
              "old > new");
    s_leaves_free (&leaves);
}

//  Appends count events alternating sites a and b in one batch.
static void
s_append (ih_log_t *log, ih_tk_site_t *a, ih_tk_site_t *b, int count)
{
    IH_CHECK (ih_log_begin (log) == IH_OK, "begin");
    for (int i = 0; i < count; i++) {
        ih_tk_site_t *site = (ih_log_last (log) + i) % 3 == 2 ? b : a;
        size_t size;
        uint8_t *bytes = ih_tk_site_sign (site, "training.held",
                                          "{\"participants\":3}", &size);
        ih_event_t event;
        IH_CHECK (ih_event_decode (bytes, size, &event) == IH_OK, "decode");
        uint64_t hub_seq, expected;
        IH_CHECK (ih_log_append (log, &event, bytes, size, ih_event_now (),
                                 &hub_seq, &expected) == IH_OK,
                  "append");
        free (bytes);
    }
}

//  Raw LMDB access to a log, for edits the hub would never make.
typedef struct {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi log, index, sites, meta, tree, checkpoints;
} s_raw_t;

static void
s_raw_open (s_raw_t *self, const char *dir)
{
    IH_CHECK (mdb_env_create (&self->env) == 0, "env");
    IH_CHECK (mdb_env_set_maxdbs (self->env, 6) == 0, "maxdbs");
    IH_CHECK (mdb_env_set_mapsize (self->env, (size_t) 1 << 30) == 0, "map");
    IH_CHECK (mdb_env_open (self->env, dir, 0, 0644) == 0, "open %s", dir);
    IH_CHECK (mdb_txn_begin (self->env, NULL, 0, &self->txn) == 0, "txn");
    const char *names[] = {"log",  "index", "sites",
                           "meta", "tree",  "checkpoints"};
    MDB_dbi *dbis[] = {&self->log,  &self->index, &self->sites,
                       &self->meta, &self->tree,  &self->checkpoints};
    for (int i = 0; i < 6; i++)
        IH_CHECK (mdb_dbi_open (self->txn, names[i], 0, dbis[i]) == 0, "dbi %s",
                  names[i]);
}

static void
s_raw_close (s_raw_t *self)
{
    IH_CHECK (mdb_txn_commit (self->txn) == 0, "commit");
    mdb_env_close (self->env);
}

//  Makes the log a format-1 log: no tree, no checkpoints.
static void
s_raw_downgrade (s_raw_t *self)
{
    IH_CHECK (mdb_drop (self->txn, self->tree, 1) == 0, "drop tree");
    IH_CHECK (mdb_drop (self->txn, self->checkpoints, 1) == 0, "drop cps");
    MDB_val key = {6, (void *) "format"}, val = {1, (void *) "1"};
    IH_CHECK (mdb_put (self->txn, self->meta, &key, &val, 0) == 0, "format");
}

static zchunk_t *
s_raw_get (s_raw_t *self, uint64_t hub_seq)
{
    uint8_t k[8];
    ih_record_put_u64 (k, hub_seq);
    MDB_val key = {8, k}, val;
    IH_CHECK (mdb_get (self->txn, self->log, &key, &val) == 0, "get");
    return zchunk_new (val.mv_data, val.mv_size);
}

static void
s_raw_put (s_raw_t *self, uint64_t hub_seq, zchunk_t *record)
{
    uint8_t k[8];
    ih_record_put_u64 (k, hub_seq);
    MDB_val key = {8, k}, val = {zchunk_size (record), zchunk_data (record)};
    IH_CHECK (mdb_put (self->txn, self->log, &key, &val, 0) == 0, "put");
}

static void
s_raw_del (s_raw_t *self, uint64_t hub_seq)
{
    uint8_t k[8];
    ih_record_put_u64 (k, hub_seq);
    MDB_val key = {8, k};
    IH_CHECK (mdb_del (self->txn, self->log, &key, NULL) == 0, "del");
}

//  Changes the received time of the record at hub_seq by one ms (its
//  last byte): the site's signature still verifies, the tree does not.
static void
s_raw_touch (s_raw_t *self, uint64_t hub_seq)
{
    zchunk_t *record = s_raw_get (self, hub_seq);
    zchunk_data (record)[8] ^= 1;
    s_raw_put (self, hub_seq, record);
    zchunk_destroy (&record);
}

//  Decodes the signed event inside record into *event; sets *bytes_p and
//  *size_p to the signed bytes (inside record).
static void
s_record_event (zchunk_t *record, ih_event_t *event, const uint8_t **bytes_p,
                size_t *size_p)
{
    uint64_t received;
    IH_CHECK (ih_record_decode (zchunk_data (record), zchunk_size (record),
                                &received, bytes_p, size_p) == IH_OK &&
                  ih_event_decode (*bytes_p, *size_p, event) == IH_OK,
              "decode");
}

//  Writes the index key of event (site, NUL, big-endian seq) into k, which
//  has room for IH_NAME_MAX + 9 bytes; returns its length.
static size_t
s_index_key (const ih_event_t *event, uint8_t *k)
{
    size_t len = strlen (event->site);
    memcpy (k, event->site, len);
    k[len] = 0;
    ih_record_put_u64 (k + len + 1, event->seq);
    return len + 9;
}

//  Removes the index entry of the event inside record.
static void
s_raw_unindex (s_raw_t *self, zchunk_t *record)
{
    ih_event_t event;
    const uint8_t *bytes;
    size_t size;
    s_record_event (record, &event, &bytes, &size);
    uint8_t k[IH_NAME_MAX + 9];
    MDB_val key = {s_index_key (&event, k), k};
    IH_CHECK (mdb_del (self->txn, self->index, &key, NULL) == 0, "index");
}

//  Points the index entry of the event inside record at hub_seq, and (if
//  head) the site's chain head at that event.
static void
s_raw_fix_tables (s_raw_t *self, zchunk_t *record, uint64_t hub_seq, bool head)
{
    ih_event_t event;
    const uint8_t *bytes;
    size_t size;
    s_record_event (record, &event, &bytes, &size);
    uint8_t k[IH_NAME_MAX + 9], v[8 + IH_HASH_SIZE];
    ih_record_put_u64 (v, hub_seq);
    MDB_val key = {s_index_key (&event, k), k}, val = {8, v};
    IH_CHECK (mdb_put (self->txn, self->index, &key, &val, 0) == 0, "index");
    if (head) {
        ih_record_put_u64 (v, event.seq);
        ih_event_hash (bytes, size, v + 8);
        MDB_val skey = {strlen (event.site), event.site}, sval = {sizeof v, v};
        IH_CHECK (mdb_put (self->txn, self->sites, &skey, &sval, 0) == 0,
                  "sites");
    }
}

//  Copies the log in from_dir to a new directory to_dir.
static void
s_copy_data (const char *from_dir, const char *to_dir)
{
    IH_CHECK (mkdir (to_dir, 0700) == 0, "mkdir %s", to_dir);
    char from[700], to[700];
    snprintf (from, sizeof from, "%s/data.mdb", from_dir);
    snprintf (to, sizeof to, "%s/data.mdb", to_dir);
    zfile_t *file = zfile_new (NULL, from);
    IH_CHECK (file && zfile_input (file) == 0, "read %s", from);
    zchunk_t *chunk = zfile_read (file, zfile_cursize (file), 0);
    zfile_destroy (&file);
    FILE *out = fopen (to, "wb");
    IH_CHECK (out && fwrite (zchunk_data (chunk), 1, zchunk_size (chunk),
                             out) == zchunk_size (chunk),
              "write %s", to);
    fclose (out);
    zchunk_destroy (&chunk);
}

//  --------------------------------------------------------------------------
//  1. The log alone

static void
s_test_log (void)
{
    char dir[600], registry[600];
    snprintf (dir, sizeof dir, "%s/logtest", s_tmp);
    snprintf (registry, sizeof registry, "%s/logtest-registry.json", s_tmp);
    ih_tk_site_t a, b;
    ih_tk_site_init (&a, s_tmp, registry, "lt-inc-01", "incubator", "laoshan");
    ih_tk_site_init (&b, s_tmp, registry, "lt-inc-02", "incubator", "shinan");
    ih_key_t *hub = NULL;
    IH_CHECK (ih_key_load (s_hub_key, &hub) == IH_OK, "hub key");

    ih_log_t *log = ih_log_new (dir, false, 0);
    IH_CHECK (log, "new");
    uint8_t root[32], empty[32];
    crypto_hash_sha256 (empty, NULL, 0);
    IH_CHECK (ih_log_root (log, 0, root) == IH_OK &&
                  memcmp (root, empty, 32) == 0,
              "empty root");
    uint8_t cp[IH_CHECKPOINT_MAX];
    size_t cp_size;
    IH_CHECK (ih_log_checkpoint (log, 0, cp, &cp_size) == IH_E_MISSING,
              "no checkpoint yet");
    //  Batches of 1, 2, 3, ... events; a checkpoint inside some batches
    uint64_t batch_size = 0;
    for (int n = 1; ih_log_last (log) < 21; n++) {
        s_append (log, &a, &b, n);
        if (n % 2 == 0) {
            IH_CHECK (ih_log_batch_root (log, &batch_size, root) == IH_OK,
                      "batch root");
            IH_CHECK (ih_checkpoint_sign (batch_size, root, ih_event_now (),
                                          hub, cp, &cp_size) == IH_OK,
                      "sign");
            IH_CHECK (ih_log_put_checkpoint (log, cp, cp_size) == IH_OK,
                      "put cp");
        }
        IH_CHECK (ih_log_commit (log) == IH_OK, "commit");
    }
    IH_CHECK (ih_log_batch_root (log, &batch_size, root) == IH_E_BADARG,
              "no batch");
    //  A checkpoint in its own transaction; one beyond the log is refused
    uint64_t last = ih_log_last (log);
    IH_CHECK (ih_log_root (log, last, root) == IH_OK, "root");
    IH_CHECK (ih_checkpoint_sign (last, root, ih_event_now (), hub, cp,
                                  &cp_size) == IH_OK,
              "sign");
    IH_CHECK (ih_log_put_checkpoint (log, cp, cp_size) == IH_OK, "put own");
    uint8_t beyond[IH_CHECKPOINT_MAX];
    size_t beyond_size;
    IH_CHECK (ih_checkpoint_sign (last + 1, root, 1, hub, beyond,
                                  &beyond_size) == IH_OK,
              "sign");
    IH_CHECK (ih_log_put_checkpoint (log, beyond, beyond_size) == IH_E_BADARG,
              "beyond the log");
    uint8_t latest[IH_CHECKPOINT_MAX];
    size_t latest_size;
    IH_CHECK (ih_log_checkpoint (log, 0, latest, &latest_size) == IH_OK &&
                  latest_size == cp_size && memcmp (latest, cp, cp_size) == 0,
              "latest checkpoint");
    IH_CHECK (ih_log_checkpoint (log, last, latest, &latest_size) == IH_OK,
              "by size");
    IH_CHECK (ih_log_checkpoint (log, 2, latest, &latest_size) == IH_E_MISSING,
              "no checkpoint of size 2");
    s_check_tree (log, "batches");

    //  An aborted batch leaves no tree node behind (verify counts them)
    s_append (log, &a, &b, 3);
    ih_log_abort (log);
    a.seq = b.seq = 0; //  re-sign from the chain heads below
    uint64_t bad = 99;
    IH_CHECK (ih_log_verify (log, hub, &bad, NULL) == IH_OK && bad == 0,
              "verify after abort");
    IH_CHECK (ih_log_last (log) == last, "abort kept nothing");
    ih_log_destroy (&log);

    //  Reopen: the tree is still there
    log = ih_log_new (dir, false, 0);
    IH_CHECK (log, "reopen");
    s_check_tree (log, "reopened");
    IH_CHECK (ih_log_verify (log, hub, NULL, NULL) == IH_OK, "verify");
    //  A key that did not sign the checkpoints is refused
    ih_key_t *other = ih_key_new (S_HUB);
    char *why = NULL;
    IH_CHECK (ih_log_verify (log, other, &bad, &why) == IH_E_PROOF && why,
              "other key");
    zstr_free (&why);
    ih_key_destroy (&other);
    ih_log_destroy (&log);

    //  A format-1 log: read-only has no tree; the writer builds it
    s_raw_t raw;
    s_raw_open (&raw, dir);
    s_raw_downgrade (&raw);
    s_raw_close (&raw);
    log = ih_log_new (dir, true, 0);
    IH_CHECK (log, "read-only format 1");
    IH_CHECK (ih_log_root (log, 1, root) == IH_E_STORE, "no tree to read");
    IH_CHECK (ih_log_checkpoint (log, 0, cp, &cp_size) == IH_E_MISSING,
              "no checkpoints");
    ih_log_destroy (&log);
    log = ih_log_new (dir, false, 0);
    IH_CHECK (log, "upgrade");
    s_check_tree (log, "upgraded");
    IH_CHECK (ih_log_verify (log, hub, NULL, NULL) == IH_OK, "verify");
    ih_log_destroy (&log);

    ih_key_destroy (&hub);
    ih_tk_site_fini (&a);
    ih_tk_site_fini (&b);
    printf ("  log: roots, proofs, abort, reopen, upgrade OK\n");
}

//  --------------------------------------------------------------------------
//  2. The actor

//  STATUS of the in-process hub, parsed.
static json_t *
s_status (const char *ingest)
{
    zmsg_t *request = ih_wire_status_request ();
    ih_wire_t wire;
    zmsg_t *reply = ih_tk_request (ingest, &request, &wire, 10000);
    IH_CHECK (reply && wire.kind == IH_WIRE_STATUS, "status");
    json_error_t jerr;
    json_t *status = json_loadb (wire.json, wire.json_size, 0, &jerr);
    IH_CHECK (status, "status json");
    zmsg_destroy (&reply);
    return status;
}

//  Waits (deadline 10 s) until the in-process hub's latest checkpoint has
//  size; then checks that the tree has that size too.
static void
s_wait_checkpoint (const char *ingest, uint64_t size, const char *what)
{
    int64_t deadline = ih_tk_now () + 10000;
    json_t *status = NULL;
    while (ih_tk_now () < deadline) {
        json_decref (status);
        status = s_status (ingest);
        json_t *cp = json_object_get (status, "checkpoint");
        if (json_integer_value (json_object_get (cp, "size")) ==
            (json_int_t) size)
            break;
        zclock_sleep (20); //  poll the condition at 50 Hz, deadline above
    }
    IH_CHECK (json_integer_value (json_object_get (
                  json_object_get (status, "checkpoint"), "size")) ==
                  (json_int_t) size,
              "%s of size %" PRIu64, what, size);
    IH_CHECK (json_integer_value (json_object_get (status, "tree_size")) ==
                  (json_int_t) size,
              "%s: tree_size", what);
    json_decref (status);
}

//  The registry the in-process hubs share (each START rebuilds it from
//  its log): the kit's bureau pinned.
static ih_registry_t *s_reg;

//  Plain text (loopback and ipc only), with the shared registry.
static void
s_plain (zactor_t *actor)
{
    if (!s_reg) {
        ih_key_t *bureau = ih_tk_bureau (s_registry);
        s_reg = ih_registry_new (bureau);
        ih_key_destroy (&bureau);
        IH_CHECK (s_reg, "registry");
    }
    IH_CHECK (ih_ingest_set_registry (actor, s_reg) == 0, "REGISTRY");
    IH_CHECK (ih_ingest_set_plaintext (actor) == 0, "PLAINTEXT");
}

static zactor_t *
s_actor (const char *key_path)
{
    zactor_t *actor = zactor_new (ih_ingest_actor, NULL);
    IH_CHECK (actor, "actor");
    s_plain (actor);
    if (key_path)
        IH_CHECK (ih_ingest_set_key (actor, key_path) == 0, "key");
    return actor;
}

//  Starts an actor with the hub key on data; returns its START result, and
//  the reason or endpoint in *text_p (caller frees).
static int
s_start (zactor_t *actor, const char *data, char **text_p)
{
    char ingest[700], *pub = NULL;
    snprintf (ingest, sizeof ingest, "ipc://%s/ingest-%p.sock", s_tmp,
              (void *) actor);
    int rc = ih_ingest_start (actor, data, s_registry, ingest,
                              "tcp://127.0.0.1:*", 0, 64, text_p, &pub);
    zstr_free (&pub);
    return rc;
}

//  --------------------------------------------------------------------------
//  3. Proof documents, as `incuhub prove` prints them

static char *
s_hex (const uint8_t *bytes, size_t size)
{
    char *hex = malloc (2 * size + 1);
    assert (hex);
    sodium_bin2hex (hex, 2 * size + 1, bytes, size);
    return hex;
}

static json_t *
s_hex_list (const uint8_t *hashes, size_t count)
{
    json_t *list = json_array ();
    for (size_t i = 0; i < count; i++) {
        char *hex = s_hex (hashes + 32 * i, 32);
        json_array_append_new (list, json_string (hex));
        free (hex);
    }
    return list;
}

static char *
s_checkpoint_text (ih_log_t *log, uint64_t size)
{
    uint8_t cp[IH_CHECKPOINT_MAX];
    size_t cp_size;
    IH_CHECK (ih_log_checkpoint (log, size, cp, &cp_size) == IH_OK,
              "checkpoint %" PRIu64, size);
    char *text = NULL;
    IH_CHECK (ih_checkpoint_to_text (cp, cp_size, &text) == IH_OK, "text");
    return text;
}

static json_t *
s_inclusion (ih_log_t *log, uint64_t hub_seq, uint64_t size, zchunk_t *record)
{
    uint8_t *path;
    size_t len;
    IH_CHECK (ih_log_inclusion_proof (log, hub_seq, size, &path, &len) == IH_OK,
              "inclusion proof");
    char *hex = s_hex (zchunk_data (record), zchunk_size (record));
    char *cp = s_checkpoint_text (log, size);
    json_t *proof = json_pack ("{s:s, s:I, s:I, s:s, s:o, s:s}", "kind",
                               "inclusion", "hub_seq", (json_int_t) hub_seq,
                               "size", (json_int_t) size, "record", hex, "path",
                               s_hex_list (path, len), "checkpoint", cp);
    free (hex);
    free (cp);
    free (path);
    return proof;
}

static json_t *
s_consistency (ih_log_t *log, uint64_t old, uint64_t new_size,
               const char *old_text, const char *new_text)
{
    uint8_t *proof;
    size_t len;
    IH_CHECK (ih_log_consistency_proof (log, old, new_size, &proof, &len) ==
                  IH_OK,
              "consistency proof");
    json_t *doc =
        json_pack ("{s:s, s:s, s:s, s:o}", "kind", "consistency", "old",
                   old_text, "new", new_text, "proof", s_hex_list (proof, len));
    free (proof);
    return doc;
}

//  Runs verify-proof on doc (consumed); checks the exit status and that
//  stdout (0) or stderr (3) mentions words.
static void
s_verify (const char *name, json_t *doc, int status, const char *words)
{
    char *text = json_dumps (doc, JSON_COMPACT);
    json_decref (doc);
    const char *args[] = {"verify-proof", "--hub-key", s_hub_pub, "-", NULL};
    char *out = NULL, *err = NULL;
    int got = ih_tk_run (s_tmp, "incuhub", args, text, &out, &err, 30000);
    IH_CHECK (got == status, "%s: verify-proof exited %d, not %d: %s%s", name,
              got, status, out ? out : "", err ? err : "");
    const char *where = status == 0 ? out : err;
    IH_CHECK (!words || (where && strstr (where, words)),
              "%s: expected '%s' in: %s", name, words, where ? where : "");
    free (text);
    free (out);
    free (err);
}

//  --------------------------------------------------------------------------
//  4. Tampered copies

//  Copies the log in data to s_tmp/name (its path into dir, of dir_size
//  bytes) and opens the copy for raw edits.
static void
s_tamper_open (s_raw_t *raw, char *dir, size_t dir_size, const char *data,
               const char *name)
{
    snprintf (dir, dir_size, "%s/%s", s_tmp, name);
    s_copy_data (data, dir);
    s_raw_open (raw, dir);
}

//  Runs `incuhub audit --data dir` with the kit's bureau and the hub's
//  public key, and option with its value unless option is NULL; returns
//  the exit status, and stdout in *out_p and stderr in *err_p (caller
//  frees) where those are not NULL.
static int
s_audit (const char *dir, const char *option, const char *value, char **out_p,
         char **err_p)
{
    const char *args[] = {"audit",
                          "--data",
                          dir,
                          "--bureau-key",
                          ih_tk_bureau_pub (s_registry),
                          "--hub-key",
                          s_hub_pub,
                          option,
                          value,
                          NULL};
    return ih_tk_run (s_tmp, "incuhub", args, NULL, out_p, err_p, 30000);
}

//  Audits dir: expects success if expect is NULL, else exit 3 and expect
//  in stderr.
static void
s_expect_audit (const char *name, const char *dir, const char *expect)
{
    char *err = NULL;
    int got = s_audit (dir, NULL, NULL, NULL, &err);
    IH_CHECK (got == (expect ? 3 : 0), "%s: audit exited %d: %s", name, got,
              err ? err : "");
    if (expect)
        IH_CHECK (err && strstr (err, expect), "%s: expected '%s' in: %s", name,
                  expect, err ? err : "");
    printf ("  %-10s audit exit %d%s%s", name, got, err && *err ? ": " : "\n",
            err ? err : "");
    free (err);
}

//  Checks that the actor with the hub key refuses to START on dir, naming
//  expect.
static void
s_expect_refused (const char *name, const char *dir, const char *expect)
{
    zactor_t *actor = s_actor (s_hub_key);
    char *reason = NULL;
    IH_CHECK (s_start (actor, dir, &reason) == -1, "%s: hub started", name);
    IH_CHECK (reason && strstr (reason, expect), "%s: expected '%s' in: %s",
              name, expect, reason ? reason : "");
    printf ("  %-10s start refused: %s\n", name, reason);
    zstr_free (&reason);
    zactor_destroy (&actor);
}

//  Checks a tampered copy: the audit fails naming audit_fails, and the
//  hub refuses to start naming hub_seq as the first bad one.
static void
s_expect_tampered (const char *name, const char *dir, const char *audit_fails,
                   uint64_t hub_seq)
{
    char refused[64];
    snprintf (refused, sizeof refused, "hub_seq=%" PRIu64 ":", hub_seq);
    s_expect_audit (name, dir, audit_fails);
    s_expect_refused (name, dir, refused);
}

int
main (void)
{
    s_tmp = ih_tk_tempdir ();
    char data[512], keys[512];
    snprintf (data, sizeof data, "%s/data", s_tmp);
    snprintf (s_registry, sizeof s_registry, "%s/registry.json", s_tmp);
    snprintf (keys, sizeof keys, "%s/keys", s_tmp);
    IH_CHECK (mkdir (keys, 0700) == 0, "mkdir");
    snprintf (s_hub_key, sizeof s_hub_key, "%s/%s.key", keys, S_HUB);
    snprintf (s_hub_pub, sizeof s_hub_pub, "%s/%s.pub", keys, S_HUB);
    ih_key_t *hub = ih_key_new (S_HUB);
    IH_CHECK (hub && ih_key_save (hub, keys) == IH_OK, "hub key");
    ih_key_destroy (&hub);

    s_test_log ();

    //  The actor with the hub's key: checkpoints every 10 events inside
    //  the batch, and 100 ms after an event none covers
    ih_tk_site_t site_a, site_b;
    ih_tk_site_init (&site_a, s_tmp, s_registry, S_SITE_A, "incubator",
                     "laixi");
    ih_tk_site_init (&site_b, s_tmp, s_registry, S_SITE_B, "incubator",
                     "shinan");
    zactor_t *actor = zactor_new (ih_ingest_actor, NULL);
    s_plain (actor);
    IH_CHECK (ih_ingest_set_key (actor, "/nonexistent/hub.key") == -1,
              "missing key accepted");
    IH_CHECK (ih_ingest_set_key (actor, s_hub_pub) == -1,
              "public-only key accepted");
    IH_CHECK (ih_ingest_set_key (actor, s_hub_key) == 0, "key");
    ih_ingest_set_checkpoint (actor, 10, 100);
    IH_CHECK (ih_ingest_log (actor) == NULL, "log before START");
    char *ingest = NULL;
    IH_CHECK (s_start (actor, data, &ingest) == 0, "start: %s", ingest);
    ih_log_t *log = ih_ingest_log (actor);
    IH_CHECK (log, "LOG");
    zsock_t *dealer = zsock_new_dealer (ingest);
    IH_CHECK (dealer, "dealer");
    //  The bureau's registry journal (the sites) is stored at START, as
    //  hub_seq 1..base, and the timed checkpoint covers it 100 ms later.
    //  Waiting for that one makes the event-count checkpoints of the
    //  events below land at fixed sizes: base + 10, + 20, + 30.
    uint64_t base = ih_log_last (log);
    IH_CHECK (base > 0 && base == ih_tk_journal_count (s_registry),
              "%" PRIu64 " registry events", base);
    s_wait_checkpoint (ingest, base, "timed checkpoint of the journal");
    uint64_t total = base + S_EVENTS;
    uint64_t cp1 = base + 10, cp2 = base + 20, cp3 = base + 30;
    for (uint64_t n = 1; n <= S_EVENTS; n++) {
        uint64_t hub_seq = base + n;
        ih_tk_site_t *site = n % 3 == 0 ? &site_b : &site_a;
        size_t size;
        uint8_t *bytes = ih_tk_site_sign (site, "mentor.joined", "{}", &size);
        zmsg_t *msg = ih_wire_event (bytes, size);
        free (bytes);
        ih_wire_t wire;
        IH_CHECK (zmsg_send (&msg, dealer) == 0, "send");
        zpoller_t *poller = zpoller_new (dealer, NULL);
        IH_CHECK (zpoller_wait (poller, 10000) == dealer, "no reply");
        zpoller_destroy (&poller);
        zmsg_t *reply = zmsg_recv (dealer);
        IH_CHECK (ih_wire_decode (reply, &wire) == IH_OK &&
                      wire.kind == IH_WIRE_ACK && wire.hub_seq == hub_seq,
                  "ACK %" PRIu64, hub_seq);
        zmsg_destroy (&reply);
        //  One event per batch: the event-count checkpoints come at
        //  exactly base + 10, + 20, + 30, while the log is read from this
        //  thread
        if (n % 10 == 0) {
            uint8_t cp[IH_CHECKPOINT_MAX];
            size_t cp_size;
            IH_CHECK (ih_log_checkpoint (log, hub_seq, cp, &cp_size) == IH_OK,
                      "checkpoint of size %" PRIu64, hub_seq);
        }
    }
    //  The timed checkpoint covers the last three
    s_wait_checkpoint (ingest, total, "timed checkpoint");
    printf ("  actor: checkpoints at %" PRIu64 " (timed, the journal), %" PRIu64
            ", %" PRIu64 ", %" PRIu64 " and (timed) %" PRIu64 "\n",
            base, cp1, cp2, cp3, total);

    //  Proofs, made while the hub runs (another thread reads its log)
    s_leaves_t leaves;
    s_leaves_load (&leaves, log);
    for (int i = 0; i < 6; i++) {
        uint64_t hub_seq = 1 + randombytes_uniform ((uint32_t) total);
        s_verify ("inclusion",
                  s_inclusion (log, hub_seq, total, leaves.records[hub_seq]), 0,
                  "verify-proof: OK inclusion log=hub-qd");
    }
    s_verify ("inclusion-cp2",
              s_inclusion (log, base + 7, cp2, leaves.records[base + 7]), 0,
              "\"seq\"");
    //  A changed record: its received time moved by one ms
    zchunk_t *changed = zchunk_dup (leaves.records[base + 5]);
    zchunk_data (changed)[8] ^= 1;
    s_verify ("changed", s_inclusion (log, base + 5, total, changed), 3,
              "IH_E_PROOF");
    zchunk_destroy (&changed);
    //  Against the wrong checkpoint: the path for the whole log, the
    //  checkpoint of size cp3
    char words[128];
    json_t *wrong =
        s_inclusion (log, base + 4, total, leaves.records[base + 4]);
    char *cp3_text = s_checkpoint_text (log, cp3);
    json_object_set_new (wrong, "checkpoint", json_string (cp3_text));
    snprintf (words, sizeof words, "size=%" PRIu64, cp3);
    s_verify ("wrong-cp", wrong, 3, words);
    wrong = s_inclusion (log, base + 4, cp3, leaves.records[base + 4]);
    json_object_set_new (wrong, "size", json_integer ((json_int_t) total));
    s_verify ("wrong-size", wrong, 3, "IH_E_PROOF");
    //  Consistency between real checkpoints
    char *cp1_text = s_checkpoint_text (log, cp1);
    char *cp2_text = s_checkpoint_text (log, cp2);
    char *last_text = s_checkpoint_text (log, total);
    snprintf (words, sizeof words,
              "OK consistency log=hub-qd old_size=%" PRIu64
              " new_size=%" PRIu64,
              cp1, total);
    s_verify ("consistent",
              s_consistency (log, cp1, total, cp1_text, last_text), 0, words);
    s_verify ("consistent", s_consistency (log, cp2, cp3, cp2_text, cp3_text),
              0, NULL);
    //  A proof for other sizes than the checkpoints' fails
    s_verify ("mismatch", s_consistency (log, cp1, cp3, cp2_text, last_text), 3,
              "IH_E_PROOF");
    s_leaves_free (&leaves);
    zsock_destroy (&dealer);
    zactor_destroy (&actor);
    zstr_free (&ingest);

    //  The log passes the audit and the hub restarts on it
    s_expect_audit ("intact", data, NULL);
    char kept[600];
    snprintf (kept, sizeof kept, "%s/kept.checkpoint", s_tmp);
    IH_CHECK (s_audit (data, "--checkpoint-out", kept, NULL, NULL) == 0,
              "checkpoint-out");
    char *kept_text = NULL;
    {
        zfile_t *file = zfile_new (NULL, kept);
        IH_CHECK (file && zfile_input (file) == 0, "read kept");
        zchunk_t *chunk = zfile_read (file, zfile_cursize (file), 0);
        kept_text = zchunk_strdup (chunk);
        zchunk_destroy (&chunk);
        zfile_destroy (&file);
    }
    IH_CHECK (streq (kept_text, last_text), "kept checkpoint is the latest");
    char *out = NULL;
    IH_CHECK (s_audit (data, "--trusted-checkpoint", kept, &out, NULL) == 0,
              "trusted audit");
    char tree_words[64], trusted_words[64];
    snprintf (tree_words, sizeof tree_words, "tree size=%" PRIu64 " ", total);
    snprintf (trusted_words, sizeof trusted_words, "trusted=%" PRIu64, total);
    IH_CHECK (strstr (out, tree_words) && strstr (out, trusted_words),
              "tree line: %s", out);
    zstr_free (&out);
    {
        actor = s_actor (s_hub_key);
        char *text = NULL;
        IH_CHECK (s_start (actor, data, &text) == 0, "restart: %s", text);
        zstr_free (&text);
        zactor_destroy (&actor);
    }

    //  Tampered copies
    char dir[600];
    s_raw_t raw;
    //  One record's received time changed: its signature still verifies
    s_tamper_open (&raw, dir, sizeof dir, data, "changed");
    s_raw_touch (&raw, base + 5);
    s_raw_close (&raw);
    //  The checkpoint of the journal (size base) still holds; the first
    //  one covering the change does not
    char cp1_fails[128];
    snprintf (cp1_fails, sizeof cp1_fails,
              "FAILED at hub_seq=%" PRIu64 ": hub_seq 1..%" PRIu64, cp1, cp1);
    s_expect_tampered ("changed", dir, cp1_fails, base + 5);

    //  One removed, the rest renumbered
    s_tamper_open (&raw, dir, sizeof dir, data, "removed");
    zchunk_t *record;
    for (uint64_t h = base + 7; h < total; h++) {
        record = s_raw_get (&raw, h + 1);
        s_raw_put (&raw, h, record);
        zchunk_destroy (&record);
    }
    s_raw_del (&raw, total);
    s_raw_close (&raw);
    char fails[64];
    snprintf (fails, sizeof fails, "FAILED at hub_seq=%" PRIu64, base + 7);
    s_expect_tampered ("removed", dir, fails, base + 7);

    //  Two events of different sites swapped, the index fixed to match:
    //  every site's chain and the hub's tables still agree
    s_tamper_open (&raw, dir, sizeof dir, data, "swapped");
    //  (events 5 and 6: sites a and b)
    zchunk_t *fifth = s_raw_get (&raw, base + 5),
             *sixth = s_raw_get (&raw, base + 6);
    s_raw_put (&raw, base + 5, sixth);
    s_raw_put (&raw, base + 6, fifth);
    s_raw_fix_tables (&raw, sixth, base + 5, false);
    s_raw_fix_tables (&raw, fifth, base + 6, false);
    zchunk_destroy (&fifth);
    zchunk_destroy (&sixth);
    s_raw_close (&raw);
    s_expect_tampered ("swapped", dir, cp1_fails, base + 5);

    //  The tail cut, the index and chain heads rewritten to match
    s_tamper_open (&raw, dir, sizeof dir, data, "truncated");
    for (uint64_t h = base + 31; h <= total; h++) {
        record = s_raw_get (&raw, h);
        s_raw_unindex (&raw, record);
        s_raw_del (&raw, h);
        zchunk_destroy (&record);
    }
    for (uint64_t h = base + 29; h <= base + 30; h++) { //  sites a, b
        record = s_raw_get (&raw, h);
        s_raw_fix_tables (&raw, record, h, true);
        zchunk_destroy (&record);
    }
    s_raw_close (&raw);
    snprintf (fails, sizeof fails, "FAILED at hub_seq=%" PRIu64, base + 31);
    s_expect_tampered ("truncated", dir, fails, base + 31);

    //  A rewritten log, re-signed by the hub: its own checkpoints agree
    //  with it, but it does not extend what the auditor kept
    s_tamper_open (&raw, dir, sizeof dir, data, "rewritten");
    s_raw_touch (&raw, base + 5);
    s_raw_downgrade (&raw);
    s_raw_close (&raw);
    log = ih_log_new (dir, false, 0); //  rebuilds the tree
    IH_CHECK (log, "rewritten");
    IH_CHECK (ih_key_load (s_hub_key, &hub) == IH_OK, "hub key");
    uint8_t root[32], cp[IH_CHECKPOINT_MAX];
    size_t cp_size;
    IH_CHECK (ih_log_root (log, total, root) == IH_OK, "root");
    IH_CHECK (ih_checkpoint_sign (total, root, ih_event_now (), hub, cp,
                                  &cp_size) == IH_OK &&
                  ih_log_put_checkpoint (log, cp, cp_size) == IH_OK,
              "re-sign");
    ih_key_destroy (&hub);
    char *forged_text = s_checkpoint_text (log, total);
    s_verify ("rewritten",
              s_consistency (log, cp2, total, cp2_text, forged_text), 3,
              "IH_E_PROOF");
    ih_log_destroy (&log);
    s_expect_audit ("rewritten", dir, NULL); //  consistent with itself...
    char *err = NULL;
    snprintf (fails, sizeof fails, "FAILED at hub_seq=%" PRIu64, total);
    IH_CHECK (s_audit (dir, "--trusted-checkpoint", kept, NULL, &err) == 3 &&
                  err && strstr (err, fails) &&
                  strstr (err, "trusted checkpoint"),
              "...but not with the kept checkpoint: %s", err ? err : "");
    printf ("  rewritten  trusted audit: %s", err);
    zstr_free (&err);

    free (forged_text);
    free (cp1_text);
    free (cp2_text);
    free (cp3_text);
    free (last_text);
    free (kept_text);
    ih_tk_site_fini (&site_a);
    ih_tk_site_fini (&site_b);
    ih_registry_destroy (&s_reg);
    ih_tk_cleanup ();
    printf ("it_tree: OK\n");
    return 0;
}
