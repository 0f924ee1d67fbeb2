/*  =========================================================================
    ih_outbox - the agent's durable outbox of signed events

    Data flow: publisher -> ih_agent (PUBLISH) -> ih_outbox_add + commit
    -> CONFIRM to the publisher; forwarder -> ih_outbox_iterate -> hub;
    hub ACK -> ih_outbox_ack_upto.

    Durability argument. The outbox is the only copy of an event until the
    hub has stored it, so:
    - the event, next_seq and last_hash are written in one LMDB transaction
      (a nested one per event inside the batch's transaction), and the
      batch is committed without MDB_NOSYNC before any CONFIRM goes out;
    - LMDB transactions are atomic, so a crash or MDB_MAP_FULL never leaves
      an event without its next_seq (which would reuse the sequence) or a
      next_seq without its event (which would leave a hole the hub can
      never fill);
    - deletes only remove seq <= acked, and acked only rises.

    Headroom. LMDB is copy-on-write: even deleting needs fresh pages (the
    touched path, the freelist record), so a map filled to the last page
    could never be emptied again, and the agent would jam with every
    acknowledged event stuck in it. ih_outbox_add therefore refuses
    (IH_E_FULL) an event that would take the pages in use (the B-trees of
    all DBIs, the freelist's own tree included, as mdb_stat sees them
    inside the batch) above IH_OUTBOX_HEADROOM_PCT percent of the map;
    the rest is kept for deletes. Freed pages are not counted as used, so
    the mark falls again as acknowledged events are deleted.

    The in-memory copies of next_seq, last_hash and acked mirror the
    committed meta; the batch keeps its own copies that are adopted on
    commit and dropped on abort.
    =========================================================================*/
#include <czmq.h>
#include <lmdb.h>
#include <sys/file.h>
#include "ih_event.h"
#include "ih_record.h"
#include "ih_json.h"
#include "ih_outbox.h"

#define IH_OUTBOX_HEADROOM_PCT 90 //  adds stop at this % of the map

struct _ih_outbox_t {
    char *dir;                             //  outbox directory
    char site[IH_NAME_MAX + 1];            //  the site this outbox belongs to
    int lock_fd;                           //  flock on dir/agent.lock
    MDB_env *env;                          //  the LMDB environment
    MDB_dbi events;                        //  seq (u64 BE) -> signed event
    MDB_dbi meta;                          //  site, next_seq, last_hash, acked
    MDB_txn *txn;                          //  open batch, or NULL
    uint64_t next_seq;                     //  committed next_seq
    uint8_t last_hash[IH_HASH_SIZE];       //  committed last_hash
    uint64_t acked;                        //  committed acked
    uint64_t batch_next_seq;               //  next_seq within the open batch
    uint8_t batch_last_hash[IH_HASH_SIZE]; //  last_hash within the batch
    size_t page_size;                      //  LMDB page size
    size_t map_pages;                      //  pages the map can hold
};

//  Translates an LMDB code where it enters our code; logs the original.
static ih_err_t
s_mdb_err (ih_outbox_t *self, const char *what, int rc)
{
    zsys_error ("outbox: %s failed dir=%s err=%s", what, self ? self->dir : "?",
                mdb_strerror (rc));
    //  A full file system is a full outbox to the caller: not confirmed,
    //  retry once acknowledged events are deleted or space is freed
    return rc == MDB_MAP_FULL || ih_err_disk_full (rc, self ? self->dir : NULL)
               ? IH_E_FULL
               : IH_E_STORE;
}

static int
s_put_u64 (MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t value)
{
    uint8_t buf[8];
    ih_record_put_u64 (buf, value);
    MDB_val key = {strlen (name), (void *) name};
    MDB_val val = {sizeof (buf), buf};
    return mdb_put (txn, dbi, &key, &val, 0);
}

//  Reads a u64 meta value; a missing one reads as 0. Returns an LMDB code
//  or -1 if the stored value has the wrong size.
static int
s_get_u64 (MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *value_p)
{
    MDB_val key = {strlen (name), (void *) name};
    MDB_val val;
    int rc = mdb_get (txn, dbi, &key, &val);
    if (rc == MDB_NOTFOUND) {
        *value_p = 0;
        return 0;
    }
    if (rc)
        return rc;
    if (val.mv_size != 8)
        return -1;
    *value_p = ih_record_get_u64 (val.mv_data);
    return 0;
}

//  Reads or, for a new outbox, writes the meta values. Returns IH_OK,
//  IH_E_WRONGSITE or IH_E_STORE.
static ih_err_t
s_load_meta (ih_outbox_t *self, MDB_txn *txn)
{
    MDB_val key = {4, "site"};
    MDB_val val;
    int rc = mdb_get (txn, self->meta, &key, &val);
    if (rc == MDB_NOTFOUND) {
        //  A new outbox: claim it for this site.
        val.mv_size = strlen (self->site);
        val.mv_data = self->site;
        rc = mdb_put (txn, self->meta, &key, &val, 0);
        if (rc == 0)
            rc = s_put_u64 (txn, self->meta, "next_seq", 1);
        if (rc == 0)
            rc = s_put_u64 (txn, self->meta, "acked", 0);
        if (rc == 0) {
            MDB_val hkey = {9, "last_hash"};
            uint8_t zero[IH_HASH_SIZE] = {0};
            MDB_val hval = {sizeof (zero), zero};
            rc = mdb_put (txn, self->meta, &hkey, &hval, 0);
        }
        if (rc)
            return s_mdb_err (self, "init meta", rc);
        rc = mdb_get (txn, self->meta, &key, &val);
    }
    if (rc)
        return s_mdb_err (self, "read meta", rc);
    if (val.mv_size != strlen (self->site) ||
        memcmp (val.mv_data, self->site, val.mv_size) != 0) {
        int len = val.mv_size > IH_NAME_MAX ? IH_NAME_MAX : (int) val.mv_size;
        zsys_error ("outbox: dir=%s belongs to site=%.*s, not site=%s "
                    "err=IH_E_WRONGSITE",
                    self->dir, len, (const char *) val.mv_data, self->site);
        return IH_E_WRONGSITE;
    }
    if (s_get_u64 (txn, self->meta, "next_seq", &self->next_seq) ||
        s_get_u64 (txn, self->meta, "acked", &self->acked) ||
        self->next_seq == 0 || self->acked >= self->next_seq) {
        zsys_error ("outbox: dir=%s has corrupt meta (next_seq/acked)",
                    self->dir);
        return IH_E_STORE;
    }
    MDB_val hkey = {9, "last_hash"};
    rc = mdb_get (txn, self->meta, &hkey, &val);
    if (rc || val.mv_size != IH_HASH_SIZE) {
        zsys_error ("outbox: dir=%s has corrupt meta (last_hash)", self->dir);
        return IH_E_STORE;
    }
    memcpy (self->last_hash, val.mv_data, IH_HASH_SIZE);
    return IH_OK;
}

ih_outbox_t *
ih_outbox_new (const char *dir, const char *site, size_t map_size,
               ih_err_t *err_p)
{
    ih_err_t err = IH_E_STORE;
    ih_outbox_t *self = NULL;
    MDB_txn *txn = NULL;
    if (!dir || !site || !ih_event_name_valid (site)) {
        zsys_error ("outbox: invalid site id or directory");
        err = IH_E_BADARG;
        goto cleanup;
    }
    self = (ih_outbox_t *) zmalloc (sizeof (ih_outbox_t));
    self->dir = strdup (dir);
    self->lock_fd = -1;
    snprintf (self->site, sizeof (self->site), "%s", site);

    if (zsys_dir_create ("%s", dir) != 0) {
        zsys_error ("outbox: cannot create dir=%s err=%s", dir,
                    strerror (errno));
        err = IH_E_IO;
        goto cleanup;
    }
    //  LMDB would let a second process write too, but our cached next_seq
    //  and last_hash assume one writer: keep others out.
    char *lock_path = zsys_sprintf ("%s/agent.lock", dir);
    self->lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    zstr_free (&lock_path);
    if (self->lock_fd == -1) {
        zsys_error ("outbox: cannot open lock in dir=%s err=%s", dir,
                    strerror (errno));
        err = IH_E_IO;
        goto cleanup;
    }
    if (flock (self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        zsys_error ("outbox: dir=%s is in use by another agent", dir);
        goto cleanup;
    }
    int rc = mdb_env_create (&self->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs (self->env, 2);
    if (rc == 0)
        rc = mdb_env_set_mapsize (self->env,
                                  map_size ? map_size : IH_OUTBOX_MAP_DEFAULT);
    if (rc == 0)
        rc = mdb_env_open (self->env, dir, 0, 0600);
    if (rc) {
        err = s_mdb_err (self, "open env", rc);
        goto cleanup;
    }
    int dead = 0;
    mdb_reader_check (self->env, &dead);
    MDB_envinfo info;
    MDB_stat env_stat;
    rc = mdb_env_info (self->env, &info);
    if (rc == 0)
        rc = mdb_env_stat (self->env, &env_stat);
    if (rc) {
        err = s_mdb_err (self, "env info", rc);
        goto cleanup;
    }
    self->page_size = env_stat.ms_psize;
    self->map_pages = info.me_mapsize / env_stat.ms_psize;

    rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open (txn, "events", MDB_CREATE, &self->events);
    if (rc == 0)
        rc = mdb_dbi_open (txn, "meta", MDB_CREATE, &self->meta);
    if (rc) {
        err = s_mdb_err (self, "open dbis", rc);
        goto cleanup;
    }
    err = s_load_meta (self, txn);
    if (err)
        goto cleanup;
    rc = mdb_txn_commit (txn);
    txn = NULL;
    if (rc) {
        err = s_mdb_err (self, "commit meta", rc);
        goto cleanup;
    }
    err = IH_OK;
cleanup:
    if (txn)
        mdb_txn_abort (txn);
    if (err)
        ih_outbox_destroy (&self);
    if (err_p)
        *err_p = err;
    return self;
}

void
ih_outbox_destroy (ih_outbox_t **self_p)
{
    assert (self_p);
    ih_outbox_t *self = *self_p;
    if (!self)
        return;
    ih_outbox_abort (self);
    if (self->env)
        mdb_env_close (self->env);
    if (self->lock_fd != -1)
        close (self->lock_fd); //  releases the flock
    free (self->dir);
    free (self);
    *self_p = NULL;
}

ih_err_t
ih_outbox_begin (ih_outbox_t *self)
{
    assert (self);
    if (self->txn)
        return IH_E_BADARG;
    int rc = mdb_txn_begin (self->env, NULL, 0, &self->txn);
    if (rc) {
        self->txn = NULL;
        return s_mdb_err (self, "begin", rc);
    }
    self->batch_next_seq = self->next_seq;
    memcpy (self->batch_last_hash, self->last_hash, IH_HASH_SIZE);
    return IH_OK;
}

//  Pages in use by the B-trees (freelist tree, main tree, events, meta)
//  as seen in txn, plus the two meta pages. Free pages are not counted.
static size_t
s_pages_used (ih_outbox_t *self, MDB_txn *txn)
{
    MDB_dbi dbis[] = {0, 1, self->events, self->meta}; //  0 FREE, 1 MAIN
    size_t used = 2;
    for (size_t i = 0; i < sizeof (dbis) / sizeof (dbis[0]); i++) {
        MDB_stat stat;
        if (mdb_stat (txn, dbis[i], &stat) == 0)
            used += stat.ms_branch_pages + stat.ms_leaf_pages +
                    stat.ms_overflow_pages;
    }
    return used;
}

ih_err_t
ih_outbox_add (ih_outbox_t *self, ih_key_t *key, const char *type,
               const uint8_t *data, size_t size, uint64_t *seq_p)
{
    assert (self);
    assert (key);
    if (!self->txn)
        return IH_E_BADARG;
    if (!streq (ih_key_name (key), self->site))
        return IH_E_WRONGSITE;
    if (!type || !data)
        return !type ? IH_E_BADNAME : IH_E_MALFORMED;

    ih_event_t event;
    memset (&event, 0, sizeof (event));
    snprintf (event.site, sizeof (event.site), "%s", self->site);
    if (strlen (type) > IH_NAME_MAX)
        return IH_E_BADNAME;
    snprintf (event.type, sizeof (event.type), "%s", type);
    event.seq = self->batch_next_seq;
    event.ts = ih_event_now ();
    memcpy (event.prev, self->batch_last_hash, IH_HASH_SIZE);
    event.data = data;
    event.data_size = size;

    uint8_t *signed_event = NULL;
    size_t signed_size = 0;
    ih_err_t err = ih_event_sign (&event, key, &signed_event, &signed_size);
    if (err)
        return err;
    uint8_t hash[IH_HASH_SIZE];
    ih_event_hash (signed_event, signed_size, hash);

    //  Keep the headroom deletes need (see the top of this file). An event
    //  over half a page goes to overflow pages; count a few more for the
    //  leaf and branch pages it may split.
    size_t need = 4;
    if (signed_size + 64 > self->page_size / 2)
        need += (signed_size + 64 + self->page_size - 1) / self->page_size;
    if ((s_pages_used (self, self->txn) + need) * 100 >
        self->map_pages * IH_OUTBOX_HEADROOM_PCT) {
        free (signed_event);
        return IH_E_FULL; //  expected when full: the caller logs it
    }

    //  A nested transaction, so a failure (MDB_MAP_FULL above all) drops
    //  this event only and leaves the batch's earlier events intact. That
    //  does not make the batch safe: its commit writes the freelist and
    //  can itself fail with MDB_MAP_FULL, and then every event of the
    //  batch is gone and nobody may be confirmed (ih_outbox_commit returns
    //  IH_E_FULL and the caller NAKs the whole batch).
    MDB_txn *child = NULL;
    int rc = mdb_txn_begin (self->env, self->txn, 0, &child);
    if (rc == 0) {
        uint8_t seq_key[8];
        ih_record_put_u64 (seq_key, event.seq);
        MDB_val k = {sizeof (seq_key), seq_key};
        MDB_val v = {signed_size, signed_event};
        rc = mdb_put (child, self->events, &k, &v, MDB_APPEND);
    }
    if (rc == 0)
        rc = s_put_u64 (child, self->meta, "next_seq", event.seq + 1);
    if (rc == 0) {
        MDB_val hk = {9, "last_hash"};
        MDB_val hv = {IH_HASH_SIZE, hash};
        rc = mdb_put (child, self->meta, &hk, &hv, 0);
    }
    if (rc == 0) {
        rc = mdb_txn_commit (child);
        child = NULL;
    }
    free (signed_event);
    if (rc) {
        if (child)
            mdb_txn_abort (child);
        if (rc == MDB_MAP_FULL || ih_err_disk_full (rc, self->dir))
            return IH_E_FULL; //  expected when full: the caller logs it
        return s_mdb_err (self, "add", rc);
    }
    self->batch_next_seq = event.seq + 1;
    memcpy (self->batch_last_hash, hash, IH_HASH_SIZE);
    if (seq_p)
        *seq_p = event.seq;
    return IH_OK;
}

ih_err_t
ih_outbox_commit (ih_outbox_t *self)
{
    assert (self);
    if (!self->txn)
        return IH_E_BADARG;
    int rc = mdb_txn_commit (self->txn);
    self->txn = NULL;
    if (rc)
        return s_mdb_err (self, "commit", rc);
    self->next_seq = self->batch_next_seq;
    memcpy (self->last_hash, self->batch_last_hash, IH_HASH_SIZE);
    return IH_OK;
}

void
ih_outbox_abort (ih_outbox_t *self)
{
    assert (self);
    if (self->txn) {
        mdb_txn_abort (self->txn);
        self->txn = NULL;
    }
}

//  Starts a read transaction, or reuses the open batch. Returns the txn
//  and whether the caller must abort it.
static int
s_read_begin (ih_outbox_t *self, MDB_txn **txn_p, bool *own_p)
{
    if (self->txn) {
        *txn_p = self->txn;
        *own_p = false;
        return 0;
    }
    *own_p = true;
    return mdb_txn_begin (self->env, NULL, MDB_RDONLY, txn_p);
}

ih_err_t
ih_outbox_get (ih_outbox_t *self, uint64_t seq, uint8_t **out_p, size_t *size_p)
{
    assert (self);
    assert (out_p && size_p);
    MDB_txn *txn;
    bool own;
    int rc = s_read_begin (self, &txn, &own);
    if (rc)
        return s_mdb_err (self, "get", rc);
    uint8_t seq_key[8];
    ih_record_put_u64 (seq_key, seq);
    MDB_val k = {sizeof (seq_key), seq_key};
    MDB_val v;
    ih_err_t err = IH_OK;
    rc = mdb_get (txn, self->events, &k, &v);
    if (rc == MDB_NOTFOUND)
        err = IH_E_MISSING;
    else if (rc)
        err = s_mdb_err (self, "get", rc);
    else {
        *out_p = (uint8_t *) malloc (v.mv_size ? v.mv_size : 1);
        assert (*out_p);
        memcpy (*out_p, v.mv_data, v.mv_size);
        *size_p = v.mv_size;
    }
    if (own)
        mdb_txn_abort (txn);
    return err;
}

ih_err_t
ih_outbox_iterate (ih_outbox_t *self, uint64_t from, uint64_t max,
                   ih_outbox_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    MDB_txn *txn;
    bool own;
    MDB_cursor *cursor = NULL;
    int rc = s_read_begin (self, &txn, &own);
    if (rc)
        return s_mdb_err (self, "iterate", rc);
    rc = mdb_cursor_open (txn, self->events, &cursor);
    uint8_t seq_key[8];
    ih_record_put_u64 (seq_key, from);
    MDB_val k = {sizeof (seq_key), seq_key};
    MDB_val v;
    uint64_t count = 0;
    if (rc == 0)
        rc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        if (k.mv_size != 8) {
            zsys_error ("outbox: dir=%s has a bad key in events", self->dir);
            break;
        }
        if (fn (ih_record_get_u64 (k.mv_data), v.mv_data, v.mv_size, arg))
            break;
        if (max && ++count >= max)
            break;
        rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    ih_err_t err = IH_OK;
    if (rc && rc != MDB_NOTFOUND)
        err = s_mdb_err (self, "iterate", rc);
    if (cursor)
        mdb_cursor_close (cursor);
    if (own)
        mdb_txn_abort (txn);
    return err;
}

ih_err_t
ih_outbox_ack_upto (ih_outbox_t *self, uint64_t seq)
{
    assert (self);
    if (self->txn || seq >= self->next_seq)
        return IH_E_BADARG;
    MDB_txn *txn = NULL;
    MDB_cursor *cursor = NULL;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc)
        return s_mdb_err (self, "ack begin", rc);
    rc = mdb_cursor_open (txn, self->events, &cursor);
    while (rc == 0) {
        MDB_val k, v;
        rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        if (k.mv_size == 8 && ih_record_get_u64 (k.mv_data) > seq)
            break;
        rc = mdb_cursor_del (cursor, 0);
    }
    if (cursor)
        mdb_cursor_close (cursor);
    uint64_t acked = seq > self->acked ? seq : self->acked;
    if (rc == 0)
        rc = s_put_u64 (txn, self->meta, "acked", acked);
    if (rc) {
        mdb_txn_abort (txn);
        return s_mdb_err (self, "ack_upto", rc);
    }
    rc = mdb_txn_commit (txn);
    if (rc)
        return s_mdb_err (self, "ack commit", rc);
    self->acked = acked;
    return IH_OK;
}

//  First or last stored seq (0 if none), committed state.
static uint64_t
s_edge (ih_outbox_t *self, MDB_cursor_op op)
{
    MDB_txn *txn;
    MDB_cursor *cursor = NULL;
    uint64_t seq = 0;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn))
        return 0;
    MDB_val k, v;
    if (mdb_cursor_open (txn, self->events, &cursor) == 0 &&
        mdb_cursor_get (cursor, &k, &v, op) == 0 && k.mv_size == 8)
        seq = ih_record_get_u64 (k.mv_data);
    if (cursor)
        mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    return seq;
}

uint64_t
ih_outbox_backlog (ih_outbox_t *self)
{
    assert (self);
    MDB_txn *txn;
    MDB_stat stat;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn))
        return 0;
    uint64_t entries = 0;
    if (mdb_stat (txn, self->events, &stat) == 0)
        entries = stat.ms_entries;
    mdb_txn_abort (txn);
    return entries;
}

uint64_t
ih_outbox_first (ih_outbox_t *self)
{
    assert (self);
    return s_edge (self, MDB_FIRST);
}

uint64_t
ih_outbox_last (ih_outbox_t *self)
{
    assert (self);
    return s_edge (self, MDB_LAST);
}

uint64_t
ih_outbox_next_seq (ih_outbox_t *self)
{
    assert (self);
    return self->next_seq;
}

uint64_t
ih_outbox_acked (ih_outbox_t *self)
{
    assert (self);
    return self->acked;
}

const char *
ih_outbox_site (ih_outbox_t *self)
{
    assert (self);
    return self->site;
}

//  --------------------------------------------------------------------------
//  Selftest
//  The selftest asserts on results (with side effects), so keep assert live
//  even in release builds (RelWithDebInfo defines NDEBUG).
#undef NDEBUG
#include <assert.h>

typedef struct {
    uint64_t expect_seq;             //  next seq the walk expects
    uint8_t prev_hash[IH_HASH_SIZE]; //  hash of the previous event seen
    bool have_prev;                  //  prev_hash is known
    const uint8_t *public_key;       //  to verify signatures
    uint64_t count;
} s_chain_t;

//  Checks that events come in order, verify, and link by hash.
static int
s_check_chain (uint64_t seq, const uint8_t *bytes, size_t size, void *arg)
{
    s_chain_t *chain = (s_chain_t *) arg;
    ih_event_t event;
    assert (ih_event_decode (bytes, size, &event) == IH_OK);
    assert (ih_event_verify (bytes, size, chain->public_key) == IH_OK);
    assert (event.seq == seq);
    if (chain->expect_seq)
        assert (seq == chain->expect_seq);
    if (chain->have_prev)
        assert (memcmp (event.prev, chain->prev_hash, IH_HASH_SIZE) == 0);
    if (seq == 1) {
        uint8_t zero[IH_HASH_SIZE] = {0};
        assert (memcmp (event.prev, zero, IH_HASH_SIZE) == 0);
    }
    ih_event_hash (bytes, size, chain->prev_hash);
    chain->have_prev = true;
    chain->expect_seq = seq + 1;
    chain->count++;
    return 0;
}

//  Packs {"n": n, "pad": "<pad bytes>"} as a msgpack map.
static void
s_payload (int n, size_t pad, uint8_t **out_p, size_t *size_p)
{
    char *filler = (char *) zmalloc (pad + 1);
    memset (filler, 'x', pad);
    json_t *object = json_pack ("{s:i, s:s}", "n", n, "pad", filler);
    assert (object);
    assert (ih_json_to_msgpack (object, out_p, size_p) == IH_OK);
    json_decref (object);
    free (filler);
}

void
ih_outbox_test (bool verbose)
{
    if (verbose)
        printf (" * ih_outbox: ");
    char tmpl[] = "/tmp/ih_outbox_test.XXXXXX";
    char *tmp = mkdtemp (tmpl);
    assert (tmp);
    char *dir = zsys_sprintf ("%s/outbox", tmp);
    ih_key_t *key = ih_key_new ("lh-inc-01");
    ih_key_t *other_key = ih_key_new ("lh-inc-02");
    assert (key && other_key);
    uint8_t *data;
    size_t size;
    s_payload (1, 10, &data, &size);

    //  Add three events in one batch, two in another
    ih_err_t err;
    ih_outbox_t *outbox = ih_outbox_new (dir, "lh-inc-01", 0, &err);
    assert (outbox && err == IH_OK);
    assert (ih_outbox_next_seq (outbox) == 1);
    assert (ih_outbox_backlog (outbox) == 0);
    assert (ih_outbox_first (outbox) == 0);
    //  A second instance on the same dir is kept out
    ih_outbox_t *second = ih_outbox_new (dir, "lh-inc-01", 0, &err);
    assert (!second && err == IH_E_STORE);
    uint64_t seq = 0;
    assert (ih_outbox_add (outbox, key, "t", data, size, &seq) ==
            IH_E_BADARG); //  no batch
    assert (ih_outbox_begin (outbox) == IH_OK);
    assert (ih_outbox_begin (outbox) == IH_E_BADARG);
    for (uint64_t i = 1; i <= 3; i++) {
        assert (ih_outbox_add (outbox, key, "startup.admitted", data, size,
                               &seq) == IH_OK);
        assert (seq == i);
    }
    //  Failures inside a batch do not consume a sequence or spoil it
    assert (ih_outbox_add (outbox, key, "Bad Type", data, size, &seq) ==
            IH_E_BADNAME);
    uint8_t not_a_map[1] = {0x01};
    assert (ih_outbox_add (outbox, key, "t", not_a_map, 1, &seq) ==
            IH_E_MALFORMED);
    assert (ih_outbox_add (outbox, other_key, "t", data, size, &seq) ==
            IH_E_WRONGSITE);
    assert (ih_outbox_commit (outbox) == IH_OK);
    assert (ih_outbox_next_seq (outbox) == 4);
    //  An aborted batch hands its sequences out again
    assert (ih_outbox_begin (outbox) == IH_OK);
    assert (ih_outbox_add (outbox, key, "t", data, size, &seq) == IH_OK);
    assert (seq == 4);
    ih_outbox_abort (outbox);
    assert (ih_outbox_next_seq (outbox) == 4);
    assert (ih_outbox_begin (outbox) == IH_OK);
    assert (ih_outbox_add (outbox, key, "t", data, size, &seq) == IH_OK);
    assert (seq == 4);
    assert (ih_outbox_add (outbox, key, "t", data, size, &seq) == IH_OK);
    assert (seq == 5);
    assert (ih_outbox_commit (outbox) == IH_OK);
    assert (ih_outbox_commit (outbox) == IH_E_BADARG);
    ih_outbox_destroy (&outbox);
    ih_outbox_destroy (&outbox);
    assert (outbox == NULL);

    //  Reopen: sequences continue, the chain links
    outbox = ih_outbox_new (dir, "lh-inc-01", 0, NULL);
    assert (outbox);
    assert (ih_outbox_next_seq (outbox) == 6);
    assert (ih_outbox_backlog (outbox) == 5);
    assert (ih_outbox_first (outbox) == 1);
    assert (ih_outbox_last (outbox) == 5);
    s_chain_t chain = {0};
    chain.public_key = ih_key_public (key);
    assert (ih_outbox_iterate (outbox, 1, 0, s_check_chain, &chain) == IH_OK);
    assert (chain.count == 5);
    uint8_t hash5[IH_HASH_SIZE];
    memcpy (hash5, chain.prev_hash, IH_HASH_SIZE);
    uint8_t *bytes;
    size_t bytes_size;
    assert (ih_outbox_get (outbox, 3, &bytes, &bytes_size) == IH_OK);
    ih_event_t event;
    assert (ih_event_decode (bytes, bytes_size, &event) == IH_OK);
    assert (event.seq == 3 && streq (event.site, "lh-inc-01"));
    assert (streq (event.type, "startup.admitted"));
    free (bytes);
    assert (ih_outbox_get (outbox, 6, &bytes, &bytes_size) == IH_E_MISSING);
    chain = (s_chain_t){0};
    chain.public_key = ih_key_public (key);
    assert (ih_outbox_iterate (outbox, 2, 2, s_check_chain, &chain) == IH_OK);
    assert (chain.count == 2 && chain.expect_seq == 4);

    //  ack_upto deletes <= seq; the chain continues from the deleted head
    assert (ih_outbox_ack_upto (outbox, 6) == IH_E_BADARG);
    assert (ih_outbox_ack_upto (outbox, 3) == IH_OK);
    assert (ih_outbox_acked (outbox) == 3);
    assert (ih_outbox_backlog (outbox) == 2);
    assert (ih_outbox_first (outbox) == 4);
    assert (ih_outbox_get (outbox, 3, &bytes, &bytes_size) == IH_E_MISSING);
    assert (ih_outbox_ack_upto (outbox, 2) == IH_OK); //  never lowers
    assert (ih_outbox_acked (outbox) == 3);
    assert (ih_outbox_ack_upto (outbox, 5) == IH_OK);
    assert (ih_outbox_backlog (outbox) == 0);
    assert (ih_outbox_first (outbox) == 0);
    assert (ih_outbox_begin (outbox) == IH_OK);
    assert (ih_outbox_add (outbox, key, "t", data, size, &seq) == IH_OK);
    assert (seq == 6);
    assert (ih_outbox_commit (outbox) == IH_OK);
    assert (ih_outbox_get (outbox, 6, &bytes, &bytes_size) == IH_OK);
    assert (ih_event_decode (bytes, bytes_size, &event) == IH_OK);
    assert (memcmp (event.prev, hash5, IH_HASH_SIZE) == 0);
    free (bytes);
    ih_outbox_destroy (&outbox);
    outbox = ih_outbox_new (dir, "lh-inc-01", 0, NULL);
    assert (outbox);
    assert (ih_outbox_acked (outbox) == 5);
    assert (ih_outbox_next_seq (outbox) == 7);
    ih_outbox_destroy (&outbox);

    //  Another site's outbox is refused
    outbox = ih_outbox_new (dir, "lh-inc-02", 0, &err);
    assert (!outbox && err == IH_E_WRONGSITE);
    outbox = ih_outbox_new (dir, "Not Valid", 0, &err);
    assert (!outbox && err == IH_E_BADARG);

    //  A full map gives IH_E_FULL and never a half-written event
    char *small_dir = zsys_sprintf ("%s/small", tmp);
    outbox = ih_outbox_new (small_dir, "lh-inc-01", 256 * 1024, NULL);
    assert (outbox);
    free (data);
    s_payload (7, 6000, &data, &size);
    uint64_t confirmed = 0;
    bool full = false;
    for (int i = 0; i < 1000 && !full; i++) {
        assert (ih_outbox_begin (outbox) == IH_OK);
        //  Two per batch: the second may fail alone
        for (int j = 0; j < 2 && !full; j++) {
            err = ih_outbox_add (outbox, key, "t", data, size, &seq);
            if (err == IH_E_FULL)
                full = true;
            else
                assert (err == IH_OK);
        }
        err = ih_outbox_commit (outbox);
        if (err == IH_OK)
            confirmed = ih_outbox_next_seq (outbox) - 1;
        else {
            assert (err == IH_E_FULL);
            full = true;
        }
    }
    assert (full);
    assert (confirmed > 0);
    assert (ih_outbox_next_seq (outbox) == confirmed + 1);
    ih_outbox_destroy (&outbox);
    outbox = ih_outbox_new (small_dir, "lh-inc-01", 256 * 1024, NULL);
    assert (outbox);
    assert (ih_outbox_next_seq (outbox) == confirmed + 1);
    assert (ih_outbox_backlog (outbox) == confirmed);
    chain = (s_chain_t){0};
    chain.public_key = ih_key_public (key);
    assert (ih_outbox_iterate (outbox, 1, 0, s_check_chain, &chain) == IH_OK);
    assert (chain.count == confirmed && chain.expect_seq == confirmed + 1);
    //  Acknowledged events make room again (LMDB reuses freed pages once
    //  a later write transaction has committed, hence two deletes)
    assert (ih_outbox_ack_upto (outbox, confirmed - 1) == IH_OK);
    assert (ih_outbox_ack_upto (outbox, confirmed) == IH_OK);
    bool added = false;
    for (int i = 0; i < 4 && !added; i++) {
        assert (ih_outbox_begin (outbox) == IH_OK);
        err = ih_outbox_add (outbox, key, "t", data, size, &seq);
        if (err == IH_OK && ih_outbox_commit (outbox) == IH_OK)
            added = true;
        else
            ih_outbox_abort (outbox);
    }
    assert (added && seq == confirmed + 1);
    ih_outbox_destroy (&outbox);

    free (data);
    ih_key_destroy (&key);
    ih_key_destroy (&other_key);
    zdir_t *tree = zdir_new (tmp, NULL);
    if (tree)
        zdir_remove (tree, true);
    zdir_destroy (&tree);
    zstr_free (&small_dir);
    zstr_free (&dir);
    if (verbose)
        printf ("OK\n");
}
