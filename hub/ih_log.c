/*  =========================================================================
    ih_log - the hub's append-only event log in LMDB

    Where it sits: the ingest actor (ih_ingest.c) verifies each signed event
    and appends it here inside one write transaction per batch; only after
    ih_log_commit returns IH_OK does it send the batch's ACKs and publish
    the events. Readers (the CLI's replay, audit and tail) open the same
    directory read-only.

    Durability: why an ACK after mdb_txn_commit survives kill -9 and power
    loss
    ---------------------------------------------------------------------
    LMDB is a copy-on-write B+tree in one memory-mapped file with two meta
    pages. A write transaction never modifies a page that a committed
    state can reach: it writes new pages, then, in mdb_txn_commit,
    (1) writes the dirty data pages with pwrite and fdatasyncs them, and
    only then (2) writes the alternate meta page that points at the new
    root and fdatasyncs that. A crash at any point before (2) completes
    leaves the previous meta page as the newest valid one, which still
    points at an intact old tree: the transaction simply did not happen.
    Once (2) has returned, the new tree and the meta page that names it
    are on stable storage.

    That argument needs the default flags, so this file never uses:
      - MDB_NOSYNC / MDB_NOMETASYNC: they skip or defer the fsyncs above,
        so a commit could return before its data or meta page is durable.
      - MDB_WRITEMAP: data pages are then written through the map and
        flushed with msync; an errant write or a torn flush could reach a
        page a committed tree uses.
      - MDB_MAPASYNC, MDB_NOLOCK: likewise weaker or unsafe.
    With those off, a kill -9 (the kernel still holds our pwrite'n pages
    and will write them) and a power loss (the fsyncs have completed) both
    keep every transaction whose mdb_txn_commit returned 0. The ingest
    actor sends an ACK only after that return, so an ACKed event is
    durable; an event in a batch that failed is NAKed and never
    published. This assumes the disk honours flushes (no lying write
    caches), as every database must.

    Readers: LMDB readers see a consistent snapshot and never block the
    writer, but a reader that holds a read transaction open pins old
    pages, so readers here use short read transactions. A reader that
    died without closing leaves a stale slot in the lock table;
    mdb_reader_check at start-up clears those. One environment per
    process, never shared across fork(). The one long reader is audit: it
    pins a snapshot (ih_log_pin) for one pass so that the log, sites and
    index it compares are the same committed state.

    Layout (see ih_log.h): the log db maps an 8-byte big-endian hub_seq to
    an ih_record, so keys sort in log order and MDB_APPEND applies. The
    index maps site||0x00||seq to hub_seq; sites maps site to its last seq
    and the hash of its last signed event (the chain head). meta holds
    "format" = "2" and "bytes", the total size of stored records, so
    ih_log_stats need not scan.

    The Merkle tree (format 2): `tree` maps level (1 byte) || index (u64
    BE) to the hash of every complete subtree (proto/ih_merkle.h), and
    `checkpoints` maps a tree size (u64 BE) to the hub's signed checkpoint
    of it. ih_log_append adds the record's leaf in the same write
    transaction as the record, so a committed record is always covered and
    a failed batch leaves no node behind. A format-1 log (no tree) is
    upgraded the first time the writer opens it, in one transaction.

    Threads: the ingest actor's thread opens the log and is the only
    writer. Other threads (the replay service) may call the readers: they
    use their own read transactions and ask LMDB for the committed state
    rather than read the writer's counters. ih_log_grow changes the map
    size, which LMDB allows only while this process has no transaction, so
    readers hold map_lock shared for the life of their read transaction
    and grow takes it exclusively.
    =========================================================================*/
#include <czmq.h>
#include <lmdb.h>
#include <pthread.h>
#include <sys/stat.h>
#include "ih_checkpoint.h"
#include "ih_log_internal.h"
#include "ih_merkle.h"
#include "ih_record.h"

#define IH_LOG_FORMAT "2"
#define IH_LOG_FORMAT_OLD "1" //  no tree: upgraded by the writer on open
#define IH_LOG_DBS 6
#define IH_LOG_SITE_VALUE (8 + IH_HASH_SIZE)
#define IH_LOG_INDEX_KEY (IH_NAME_MAX + 1 + 8)

//  Translates an LMDB error where it enters our code, logging its text.
ih_err_t
ih_log_int_mdb_err (ih_log_t *self, const char *what, int rc)
{
    zsys_error ("log: %s failed in %s: %s", what, self->dir, mdb_strerror (rc));
    //  A full map and a full file system are the same to a client: not
    //  stored, nothing half-written, retry once there is room again
    return rc == MDB_MAP_FULL || ih_err_disk_full (rc, self->dir) ? IH_E_FULL
                                                                  : IH_E_STORE;
}

//  Begins a read transaction, adopting a map that another process grew;
//  while a snapshot is pinned, hands out that one instead.
int
ih_log_int_read_begin (ih_log_t *self, MDB_txn **txn_p)
{
    if (self->pinned) {
        *txn_p = self->pinned;
        return 0;
    }
    pthread_rwlock_rdlock (&self->map_lock);
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, txn_p);
    if (rc == MDB_MAP_RESIZED) {
        rc = mdb_env_set_mapsize (self->env, 0);
        if (rc == 0)
            rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, txn_p);
    }
    if (rc)
        pthread_rwlock_unlock (&self->map_lock);
    return rc;
}

//  Ends a read transaction from ih_log_int_read_begin, unless it is the pinned one.
void
ih_log_int_read_end (ih_log_t *self, MDB_txn *txn)
{
    if (txn != self->pinned) {
        mdb_txn_abort (txn);
        pthread_rwlock_unlock (&self->map_lock);
    }
}

//  True on the writer's thread while it has a batch open: LMDB allows one
//  transaction per thread, so the writer reads only between batches.
//  Other threads never look at txn (the writer changes it).
bool
ih_log_int_writer_busy (ih_log_t *self)
{
    return !self->readonly && pthread_equal (self->owner, pthread_self ()) &&
           self->txn != NULL;
}

//  Reads the last hub_seq, entry counts and the bytes counter in txn.
int
ih_log_int_read_state (ih_log_t *self, MDB_txn *txn, uint64_t *last_p,
                       uint64_t *events_p, uint64_t *bytes_p, uint64_t *sites_p)
{
    MDB_stat st;
    int rc = mdb_stat (txn, self->log, &st);
    if (rc)
        return rc;
    *events_p = st.ms_entries;
    rc = mdb_stat (txn, self->sites, &st);
    if (rc)
        return rc;
    *sites_p = st.ms_entries;

    MDB_val key = {5, (void *) "bytes"}, val;
    rc = mdb_get (txn, self->meta, &key, &val);
    if (rc == 0 && val.mv_size == 8)
        *bytes_p = ih_record_get_u64 (val.mv_data);
    else if (rc == MDB_NOTFOUND || rc == 0)
        *bytes_p = 0;
    else
        return rc;

    MDB_cursor *cursor;
    rc = mdb_cursor_open (txn, self->log, &cursor);
    if (rc)
        return rc;
    rc = mdb_cursor_get (cursor, &key, &val, MDB_LAST);
    if (rc == 0 && key.mv_size == 8)
        *last_p = ih_record_get_u64 (key.mv_data);
    else if (rc == MDB_NOTFOUND) {
        *last_p = 0;
        rc = 0;
    } else if (rc == 0) {
        zsys_error ("log: bad key size %zu in log db of %s", key.mv_size,
                    self->dir);
        rc = MDB_CORRUPTED;
    }
    mdb_cursor_close (cursor);
    return rc;
}

//  Opens the named databases in a transaction that commits, so the handles
//  stay valid for the life of the environment; checks (or writes) the
//  format marker, and upgrades a format-1 log when opened for writing.
static int
s_open_dbis (ih_log_t *self)
{
    MDB_txn *txn;
    int rc = self->readonly ? ih_log_int_read_begin (self, &txn)
                            : mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc) {
        ih_log_int_mdb_err (self, "mdb_txn_begin", rc);
        return -1;
    }
    unsigned flags = self->readonly ? 0 : MDB_CREATE;
    const char *names[] = {"log",  "index", "sites",
                           "meta", "tree",  "checkpoints"};
    MDB_dbi *dbis[] = {&self->log,  &self->index, &self->sites,
                       &self->meta, &self->tree,  &self->checkpoints};
    self->has_tree = true;
    for (int i = 0; i < IH_LOG_DBS && rc == 0; i++) {
        rc = mdb_dbi_open (txn, names[i], flags, dbis[i]);
        if (rc == MDB_NOTFOUND && i >= 4) {
            //  A format-1 log opened read-only: no tree to read
            self->has_tree = false;
            rc = 0;
        } else if (rc == MDB_NOTFOUND)
            zsys_error ("log: %s is not an incuhub log (no '%s' db)", self->dir,
                        names[i]);
        else if (rc)
            ih_log_int_mdb_err (self, "mdb_dbi_open", rc);
    }
    if (rc)
        goto failed;
    //  The format marker: written on creation, checked on every open
    MDB_val key = {6, (void *) "format"}, val;
    rc = mdb_get (txn, self->meta, &key, &val);
    bool old = rc == 0 && val.mv_size == strlen (IH_LOG_FORMAT_OLD) &&
               memcmp (val.mv_data, IH_LOG_FORMAT_OLD, val.mv_size) == 0;
    bool current = rc == 0 && val.mv_size == strlen (IH_LOG_FORMAT) &&
                   memcmp (val.mv_data, IH_LOG_FORMAT, val.mv_size) == 0;
    if (rc == 0 && !old && !current) {
        zsys_error ("log: %s has an unknown format", self->dir);
        goto failed;
    }
    if (rc == MDB_NOTFOUND && self->readonly) {
        zsys_error ("log: %s has no format marker", self->dir);
        goto failed;
    }
    if (self->readonly && old)
        self->has_tree = false; //  whatever a tree db holds is not ours
    else if (self->readonly && current && !self->has_tree) {
        zsys_error ("log: %s is format 2 but has no tree", self->dir);
        goto failed;
    }
    if (!self->readonly && (rc == MDB_NOTFOUND || old)) {
        uint64_t built = 0;
        rc = old ? ih_log_int_build_tree (self, txn, &built) : 0;
        val.mv_size = strlen (IH_LOG_FORMAT);
        val.mv_data = (void *) IH_LOG_FORMAT;
        if (rc == 0)
            rc = mdb_put (txn, self->meta, &key, &val, 0);
        if (rc == 0 && old)
            zsys_notice ("log: upgraded %s from format 1 to 2: built the "
                         "Merkle tree over %" PRIu64 " records",
                         self->dir, built);
    }
    if (rc == 0 && !self->readonly)
        rc = ih_log_int_read_state (self, txn, &self->last, &self->events,
                                    &self->bytes, &self->nsites);
    if (rc) {
        ih_log_int_mdb_err (self, "opening", rc);
        goto failed;
    }
    rc = mdb_txn_commit (txn);
    if (self->readonly)
        pthread_rwlock_unlock (&self->map_lock);
    if (rc) {
        ih_log_int_mdb_err (self, "mdb_txn_commit", rc);
        return -1;
    }
    return 0;

failed:
    mdb_txn_abort (txn);
    if (self->readonly)
        pthread_rwlock_unlock (&self->map_lock);
    return -1;
}

ih_log_t *
ih_log_new (const char *dir, bool readonly, size_t map_size)
{
    if (!dir) {
        zsys_error ("log: no directory given");
        return NULL;
    }
    ih_log_t *self = (ih_log_t *) zmalloc (sizeof (ih_log_t));
    assert (self);
    self->dir = strdup (dir);
    assert (self->dir);
    self->readonly = readonly;
    self->owner = pthread_self ();
    int rc = pthread_rwlock_init (&self->map_lock, NULL);
    assert (rc == 0);

    if (!readonly && mkdir (dir, 0755) && errno != EEXIST) {
        zsys_error ("log: cannot create %s: %s", dir, strerror (errno));
        goto failed;
    }
    rc = mdb_env_create (&self->env);
    if (rc) {
        ih_log_int_mdb_err (self, "mdb_env_create", rc);
        self->env = NULL;
        goto failed;
    }
    rc = mdb_env_set_maxdbs (self->env, IH_LOG_DBS);
    //  A reader keeps the size the writer chose unless told otherwise
    if (rc == 0 && (!readonly || map_size))
        rc = mdb_env_set_mapsize (self->env,
                                  map_size ? map_size : IH_LOG_MAP_DEFAULT);
    if (rc) {
        ih_log_int_mdb_err (self, "mdb_env_set", rc);
        goto failed;
    }
    //  Default sync behaviour on purpose: see the essay at the top
    rc = mdb_env_open (self->env, dir, readonly ? MDB_RDONLY : 0, 0644);
    if (rc) {
        ih_log_int_mdb_err (self, "mdb_env_open", rc);
        goto failed;
    }
    int dead = 0;
    rc = mdb_reader_check (self->env, &dead);
    if (rc)
        zsys_warning ("log: mdb_reader_check in %s: %s", dir,
                      mdb_strerror (rc));
    else if (dead > 0)
        zsys_notice ("log: cleared %d stale reader slots in %s", dead, dir);

    if (s_open_dbis (self))
        goto failed;
    return self;

failed:
    ih_log_destroy (&self);
    return NULL;
}

void
ih_log_destroy (ih_log_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ih_log_t *self = *self_p;
        if (self->txn)
            ih_log_abort (self);
        ih_log_unpin (self);
        if (self->env)
            mdb_env_close (self->env);
        pthread_rwlock_destroy (&self->map_lock);
        free (self->dir);
        free (self);
        *self_p = NULL;
    }
}

ih_err_t
ih_log_begin (ih_log_t *self)
{
    assert (self);
    if (self->readonly || self->txn)
        return IH_E_BADARG;
    int rc = mdb_txn_begin (self->env, NULL, 0, &self->txn);
    if (rc) {
        self->txn = NULL;
        return ih_log_int_mdb_err (self, "mdb_txn_begin", rc);
    }
    self->failed = IH_OK;
    self->next = self->last + 1;
    self->batch_events = 0;
    self->batch_bytes = 0;
    self->batch_sites = 0;
    self->batch_checkpoint = false;
    return IH_OK;
}

//  Builds the index key site||0x00||seq into key (IH_LOG_INDEX_KEY bytes);
//  returns its length.
static size_t
s_index_key (const char *site, uint64_t seq, uint8_t *key)
{
    size_t len = strlen (site);
    memcpy (key, site, len);
    key[len] = 0;
    ih_record_put_u64 (key + len + 1, seq);
    return len + 1 + 8;
}

//  For seq <= last: is the stored event with this seq the same bytes?
static ih_err_t
s_check_duplicate (ih_log_t *self, const ih_event_t *event,
                   const uint8_t *bytes, size_t size, uint64_t *hub_seq_p)
{
    uint8_t ikey[IH_LOG_INDEX_KEY];
    MDB_val key = {s_index_key (event->site, event->seq, ikey), ikey}, val;
    int rc = mdb_get (self->txn, self->index, &key, &val);
    if (rc == MDB_NOTFOUND || (rc == 0 && val.mv_size != 8)) {
        //  The sites db says seq is used but the index does not know it:
        //  damage, not a client error. The sender cannot be helped, but
        //  the batch of everyone else must not fail because of it.
        zsys_error ("log: index entry missing or bad for site=%s seq=%" PRIu64
                    " in %s",
                    event->site, event->seq, self->dir);
        return IH_E_CONFLICT;
    }
    if (rc)
        return ih_log_int_mdb_err (self, "mdb_get index", rc);
    uint64_t hub_seq = ih_record_get_u64 (val.mv_data);

    uint8_t lkey[8];
    ih_record_put_u64 (lkey, hub_seq);
    key.mv_size = 8;
    key.mv_data = lkey;
    rc = mdb_get (self->txn, self->log, &key, &val);
    if (rc == MDB_NOTFOUND) {
        zsys_error ("log: hub_seq=%" PRIu64 " indexed but missing in %s",
                    hub_seq, self->dir);
        return IH_E_CONFLICT;
    }
    if (rc)
        return ih_log_int_mdb_err (self, "mdb_get log", rc);
    uint64_t received;
    const uint8_t *stored;
    size_t stored_size;
    if (ih_record_decode (val.mv_data, val.mv_size, &received, &stored,
                          &stored_size) != IH_OK) {
        zsys_error ("log: record hub_seq=%" PRIu64 " does not decode in %s",
                    hub_seq, self->dir);
        return IH_E_CONFLICT;
    }
    *hub_seq_p = hub_seq;
    if (stored_size == size && memcmp (stored, bytes, size) == 0)
        return IH_E_DUPLICATE;
    return IH_E_CONFLICT;
}

//  Marks the batch doomed after an LMDB write error.
ih_err_t
ih_log_int_fail (ih_log_t *self, const char *what, int rc)
{
    self->failed = ih_log_int_mdb_err (self, what, rc);
    return self->failed;
}

ih_err_t
ih_log_append (ih_log_t *self, const ih_event_t *event, const uint8_t *bytes,
               size_t size, uint64_t received, uint64_t *hub_seq_p,
               uint64_t *expected_p)
{
    assert (self);
    if (!self->txn || !event || !bytes || !hub_seq_p || !expected_p)
        return IH_E_BADARG;
    if (self->failed != IH_OK)
        return self->failed;
    if (event->seq == 0 || !ih_event_name_valid (event->site))
        return IH_E_BADARG;
    *hub_seq_p = 0;
    *expected_p = 0;

    //  The site's chain head: last seq and hash of its last signed event
    size_t site_len = strlen (event->site);
    MDB_val skey = {site_len, (void *) event->site}, sval;
    uint64_t last = 0;
    uint8_t last_hash[IH_HASH_SIZE] = {0};
    int rc = mdb_get (self->txn, self->sites, &skey, &sval);
    if (rc == 0) {
        if (sval.mv_size != IH_LOG_SITE_VALUE) {
            zsys_error ("log: bad chain head for site=%s in %s", event->site,
                        self->dir);
            return IH_E_CONFLICT;
        }
        last = ih_record_get_u64 (sval.mv_data);
        memcpy (last_hash, (uint8_t *) sval.mv_data + 8, IH_HASH_SIZE);
    } else if (rc != MDB_NOTFOUND)
        return ih_log_int_fail (self, "mdb_get sites", rc);

    if (event->seq <= last)
        return s_check_duplicate (self, event, bytes, size, hub_seq_p);
    if (event->seq > last + 1) {
        *expected_p = last + 1;
        return IH_E_GAP;
    }
    if (memcmp (event->prev, last_hash, IH_HASH_SIZE) != 0) {
        *expected_p = last + 1;
        return IH_E_CHAIN;
    }

    //  The index must not know this (site, seq) yet. If it does, the sites
    //  db lost entries (damage): refuse this one event, as
    //  s_check_duplicate does, before anything is written, rather than let
    //  the index put fail with MDB_KEYEXIST and doom everyone's batch.
    uint8_t ikey[IH_LOG_INDEX_KEY];
    MDB_val ival = {0, NULL};
    MDB_val key = {s_index_key (event->site, event->seq, ikey), ikey};
    rc = mdb_get (self->txn, self->index, &key, &ival);
    if (rc == 0) {
        zsys_error ("log: index already has site=%s seq=%" PRIu64
                    " beyond its chain head seq=%" PRIu64 " in %s",
                    event->site, event->seq, last, self->dir);
        return IH_E_CONFLICT;
    }
    if (rc != MDB_NOTFOUND)
        return ih_log_int_fail (self, "mdb_get index", rc);

    uint8_t *record;
    size_t record_size;
    ih_err_t err =
        ih_record_encode (received, bytes, size, &record, &record_size);
    if (err != IH_OK)
        return err;
    uint64_t hub_seq = self->next;
    uint8_t lkey[8];
    ih_record_put_u64 (lkey, hub_seq);
    key.mv_size = 8;
    key.mv_data = lkey;
    MDB_val val = {record_size, record};
    //  hub_seq only grows, so every put is at the end of the tree
    rc = mdb_put (self->txn, self->log, &key, &val, MDB_APPEND);
    uint8_t leaf[IH_MERKLE_HASH_SIZE];
    ih_merkle_leaf_hash (record, record_size, leaf);
    free (record);
    if (rc)
        return ih_log_int_fail (self, "mdb_put log", rc);
    //  Leaf hub_seq - 1 and the subtrees it completes, in this same
    //  transaction: the record and its tree nodes commit or vanish together
    ih_log_int_tree_io_t io = {self, self->txn, 0};
    if (ih_merkle_append (hub_seq - 1, leaf, ih_log_int_tree_get, &io,
                          ih_log_int_tree_put, &io) != IH_OK)
        return ih_log_int_fail (self, "tree append",
                                io.rc ? io.rc : MDB_CORRUPTED);

    key.mv_size = s_index_key (event->site, event->seq, ikey);
    key.mv_data = ikey;
    val.mv_size = 8;
    val.mv_data = lkey;
    rc = mdb_put (self->txn, self->index, &key, &val, MDB_NOOVERWRITE);
    if (rc)
        return ih_log_int_fail (self, "mdb_put index", rc);

    uint8_t head[IH_LOG_SITE_VALUE];
    ih_record_put_u64 (head, event->seq);
    ih_event_hash (bytes, size, head + 8);
    sval.mv_size = sizeof (head);
    sval.mv_data = head;
    rc = mdb_put (self->txn, self->sites, &skey, &sval, 0);
    if (rc)
        return ih_log_int_fail (self, "mdb_put sites", rc);

    self->next++;
    self->batch_events++;
    self->batch_bytes += record_size;
    if (last == 0)
        self->batch_sites++;
    *hub_seq_p = hub_seq;
    return IH_OK;
}

ih_err_t
ih_log_grow (ih_log_t *self, size_t max_size, size_t *size_p)
{
    assert (self);
    if (self->txn || self->pinned || self->readonly)
        return IH_E_BADARG;
    MDB_envinfo info;
    int rc = mdb_env_info (self->env, &info);
    if (rc)
        return ih_log_int_mdb_err (self, "mdb_env_info", rc);
    size_t size = info.me_mapsize;
    if (size >= max_size)
        return IH_E_FULL;
    size_t grown = size > max_size / 2 ? max_size : size * 2;
    //  No reader thread may hold a transaction meanwhile (see the top)
    pthread_rwlock_wrlock (&self->map_lock);
    rc = mdb_env_set_mapsize (self->env, grown);
    pthread_rwlock_unlock (&self->map_lock);
    if (rc)
        return ih_log_int_mdb_err (self, "mdb_env_set_mapsize", rc);
    zsys_notice ("log: map of %s grown from %zu to %zu MiB (limit %zu MiB)",
                 self->dir, size >> 20, grown >> 20, max_size >> 20);
    if (size_p)
        *size_p = grown;
    return IH_OK;
}

ih_err_t
ih_log_commit (ih_log_t *self)
{
    assert (self);
    if (!self->txn)
        return IH_E_BADARG;
    if (self->failed != IH_OK) {
        ih_err_t err = self->failed;
        ih_log_abort (self);
        return err;
    }
    if (self->batch_events == 0 && !self->batch_checkpoint) {
        //  Nothing written: nothing to make durable
        ih_log_abort (self);
        return IH_OK;
    }
    uint8_t counter[8];
    ih_record_put_u64 (counter, self->bytes + self->batch_bytes);
    MDB_val key = {5, (void *) "bytes"}, val = {8, counter};
    int rc = mdb_put (self->txn, self->meta, &key, &val, 0);
    if (rc) {
        ih_err_t err = ih_log_int_mdb_err (self, "mdb_put meta", rc);
        ih_log_abort (self);
        return err;
    }
    rc = mdb_txn_commit (self->txn);
    self->txn = NULL; //  gone whether or not the commit succeeded
    if (rc)
        return ih_log_int_mdb_err (self, "mdb_txn_commit", rc);
    self->last = self->next - 1;
    self->events += self->batch_events;
    self->bytes += self->batch_bytes;
    self->nsites += self->batch_sites;
    return IH_OK;
}

void
ih_log_abort (ih_log_t *self)
{
    assert (self);
    if (self->txn) {
        mdb_txn_abort (self->txn);
        self->txn = NULL;
    }
    self->failed = IH_OK;
}

//  Readers ask LMDB, since another process writes; the writer knows.
static void
s_state (ih_log_t *self, uint64_t *last_p, uint64_t *events_p,
         uint64_t *bytes_p, uint64_t *sites_p)
{
    *last_p = *events_p = *bytes_p = *sites_p = 0;
    if (!self->readonly && pthread_equal (self->owner, pthread_self ())) {
        *last_p = self->last;
        *events_p = self->events;
        *bytes_p = self->bytes;
        *sites_p = self->nsites;
        return;
    }
    MDB_txn *txn;
    int rc = ih_log_int_read_begin (self, &txn);
    if (rc) {
        ih_log_int_mdb_err (self, "mdb_txn_begin", rc);
        return;
    }
    rc = ih_log_int_read_state (self, txn, last_p, events_p, bytes_p, sites_p);
    if (rc)
        ih_log_int_mdb_err (self, "reading state", rc);
    ih_log_int_read_end (self, txn);
}

uint64_t
ih_log_last (ih_log_t *self)
{
    assert (self);
    uint64_t last, events, bytes, sites;
    s_state (self, &last, &events, &bytes, &sites);
    return last;
}

void
ih_log_stats (ih_log_t *self, uint64_t *events_p, uint64_t *bytes_p,
              uint64_t *sites_p)
{
    assert (self);
    uint64_t last, events, bytes, sites;
    s_state (self, &last, &events, &bytes, &sites);
    if (events_p)
        *events_p = events;
    if (bytes_p)
        *bytes_p = bytes;
    if (sites_p)
        *sites_p = sites;
}

//  Begins a read transaction for a reader that must not run inside the
//  writer's open batch: a thread may hold only one transaction, so the
//  writer reads between batches.
ih_err_t
ih_log_int_reader_begin (ih_log_t *self, MDB_txn **txn_p)
{
    if (ih_log_int_writer_busy (self)) {
        zsys_error ("log: read while a batch is open in %s", self->dir);
        return IH_E_STORE;
    }
    int rc = ih_log_int_read_begin (self, txn_p);
    return rc ? ih_log_int_mdb_err (self, "mdb_txn_begin", rc) : IH_OK;
}

//  Walks the entries of dbi from the first key >= *from (from NULL: from
//  the first) in one read transaction, calling each (key, value, arg)
//  until it returns non-zero.
ih_err_t
ih_log_int_walk (ih_log_t *self, MDB_dbi dbi, const MDB_val *from,
                 int (*each) (const MDB_val *key, const MDB_val *val,
                              void *arg),
                 void *arg)
{
    MDB_txn *txn;
    ih_err_t err = ih_log_int_reader_begin (self, &txn);
    if (err != IH_OK)
        return err;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, dbi, &cursor);
    if (rc) {
        ih_log_int_read_end (self, txn);
        return ih_log_int_mdb_err (self, "mdb_cursor_open", rc);
    }
    MDB_val key = {0, NULL}, val;
    if (from)
        key = *from;
    rc = mdb_cursor_get (cursor, &key, &val, from ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == 0) {
        if (each (&key, &val, arg))
            break;
        rc = mdb_cursor_get (cursor, &key, &val, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND)
        err = ih_log_int_mdb_err (self, "mdb_cursor_get", rc);
    mdb_cursor_close (cursor);
    ih_log_int_read_end (self, txn);
    return err;
}

//  How the readers pass a stored record: the signed event and the time it
//  was received, or (raw, or a record that does not split) the stored
//  value as it is with received 0.
static void
s_split (const MDB_val *record, bool raw, uint64_t *received_p,
         const uint8_t **event_p, size_t *size_p)
{
    if (raw || ih_record_decode (record->mv_data, record->mv_size, received_p,
                                 event_p, size_p) != IH_OK) {
        *received_p = 0;
        *event_p = record->mv_data;
        *size_p = record->mv_size;
    }
}

//  ih_log_read's pass over the log db.
typedef struct {
    ih_log_fn *fn;
    void *arg;
    uint64_t max; //  stop after this many records, or 0
    uint64_t count;
    bool raw; //  ih_log_read_raw: records as stored
} s_read_t;

static int
s_read_entry (const MDB_val *key, const MDB_val *val, void *arg)
{
    s_read_t *read = (s_read_t *) arg;
    uint64_t hub_seq = key->mv_size == 8 ? ih_record_get_u64 (key->mv_data) : 0;
    uint64_t received;
    const uint8_t *event;
    size_t event_size;
    s_split (val, read->raw, &received, &event, &event_size);
    if (read->fn (hub_seq, received, event, event_size, read->arg))
        return 1;
    return read->max && ++read->count >= read->max;
}

static ih_err_t
s_read (ih_log_t *self, uint64_t from, uint64_t max, ih_log_fn *fn, void *arg,
        bool raw)
{
    assert (self);
    assert (fn);
    uint8_t start[8];
    ih_record_put_u64 (start, from);
    MDB_val key = {8, start};
    s_read_t read = {fn, arg, max, 0, raw};
    return ih_log_int_walk (self, self->log, &key, s_read_entry, &read);
}

ih_err_t
ih_log_read (ih_log_t *self, uint64_t from, uint64_t max, ih_log_fn *fn,
             void *arg)
{
    return s_read (self, from, max, fn, arg, false);
}

ih_err_t
ih_log_read_raw (ih_log_t *self, uint64_t from, uint64_t max, ih_log_fn *fn,
                 void *arg)
{
    return s_read (self, from, max, fn, arg, true);
}

static int
s_site_entry (const MDB_val *key, const MDB_val *val, void *arg)
{
    ih_log_int_walk_t *walk = (ih_log_int_walk_t *) arg;
    char site[IH_NAME_MAX + 1];
    size_t len = key->mv_size < IH_NAME_MAX ? key->mv_size : IH_NAME_MAX;
    memcpy (site, key->mv_data, len);
    site[len] = 0;
    if (key->mv_size > IH_NAME_MAX || val->mv_size != IH_LOG_SITE_VALUE)
        return walk->site_fn (site, 0, NULL, walk->arg);
    return walk->site_fn (site, ih_record_get_u64 (val->mv_data),
                          (const uint8_t *) val->mv_data + 8, walk->arg);
}

ih_err_t
ih_log_sites (ih_log_t *self, ih_log_site_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    ih_log_int_walk_t walk = {fn, NULL, NULL, arg};
    return ih_log_int_walk (self, self->sites, NULL, s_site_entry, &walk);
}

static int
s_index_entry (const MDB_val *key, const MDB_val *val, void *arg)
{
    ih_log_int_walk_t *walk = (ih_log_int_walk_t *) arg;
    //  site || 0x00 || seq (8 bytes BE): the separator sits 9 bytes from
    //  the end
    const uint8_t *bytes = (const uint8_t *) key->mv_data;
    char site[IH_NAME_MAX + 1];
    size_t len = key->mv_size >= 9 ? key->mv_size - 9 : 0;
    bool sound = key->mv_size >= 9 && len <= IH_NAME_MAX && bytes[len] == 0 &&
                 val->mv_size == 8 && !memchr (bytes, 0, len);
    if (len > IH_NAME_MAX)
        len = IH_NAME_MAX;
    memcpy (site, bytes, len);
    site[len] = 0;
    if (!sound)
        return walk->index_fn (site, 0, 0, walk->arg);
    return walk->index_fn (site, ih_record_get_u64 (bytes + len + 1),
                           ih_record_get_u64 (val->mv_data), walk->arg);
}

ih_err_t
ih_log_index (ih_log_t *self, ih_log_index_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    ih_log_int_walk_t walk = {NULL, fn, NULL, arg};
    return ih_log_int_walk (self, self->index, NULL, s_index_entry, &walk);
}

//  The transaction a per-site reader uses: the open batch's when the
//  writer asks inside a batch (so it sees what the batch appended), else a
//  read transaction of its own. Returns an LMDB code.
static int
s_site_txn_begin (ih_log_t *self, MDB_txn **txn_p)
{
    if (ih_log_int_writer_busy (self)) {
        *txn_p = self->txn;
        return 0;
    }
    return ih_log_int_read_begin (self, txn_p);
}

static void
s_site_txn_end (ih_log_t *self, MDB_txn *txn)
{
    if (txn != self->txn)
        ih_log_int_read_end (self, txn);
}

ih_err_t
ih_log_site_events (ih_log_t *self, const char *site, uint64_t from_seq,
                    ih_log_fn *fn, void *arg)
{
    assert (self);
    assert (site);
    assert (fn);
    size_t len = strlen (site);
    if (len == 0 || len > IH_NAME_MAX || !ih_event_name_valid (site))
        return IH_OK; //  no such site can have events
    MDB_txn *txn;
    int rc = s_site_txn_begin (self, &txn);
    if (rc)
        return ih_log_int_mdb_err (self, "mdb_txn_begin", rc);
    MDB_cursor *cursor;
    rc = mdb_cursor_open (txn, self->index, &cursor);
    if (rc) {
        s_site_txn_end (self, txn);
        return ih_log_int_mdb_err (self, "mdb_cursor_open", rc);
    }
    //  Keys site||0x00||seq sort by site, then by seq: the site's entries
    //  from from_seq on are one run that ends where the prefix changes
    uint8_t ikey[IH_LOG_INDEX_KEY];
    MDB_val key = {s_index_key (site, from_seq, ikey), ikey}, val;
    ih_err_t err = IH_OK;
    rc = mdb_cursor_get (cursor, &key, &val, MDB_SET_RANGE);
    while (rc == 0) {
        const uint8_t *found = (const uint8_t *) key.mv_data;
        if (key.mv_size < len + 1 || memcmp (found, site, len) != 0 ||
            found[len] != 0)
            break; //  past the site's run
        if (key.mv_size != len + 9 || val.mv_size != 8) {
            //  Fail closed: a reader such as the registry must not skip
            //  an event it cannot find
            zsys_error ("log: bad index entry for site=%s in %s", site,
                        self->dir);
            err = IH_E_STORE;
            break;
        }
        uint64_t hub_seq = ih_record_get_u64 (val.mv_data);
        uint8_t lkey[8];
        ih_record_put_u64 (lkey, hub_seq);
        MDB_val rkey = {8, lkey}, record;
        rc = mdb_get (txn, self->log, &rkey, &record);
        if (rc == MDB_NOTFOUND) {
            zsys_error ("log: hub_seq=%" PRIu64 " of site=%s seq=%" PRIu64
                        " indexed but missing in %s",
                        hub_seq, site, ih_record_get_u64 (found + len + 1),
                        self->dir);
            err = IH_E_STORE;
            rc = 0;
            break;
        }
        if (rc)
            break;
        uint64_t received;
        const uint8_t *event;
        size_t event_size;
        s_split (&record, false, &received, &event, &event_size);
        if (fn (hub_seq, received, event, event_size, arg))
            break;
        rc = mdb_cursor_get (cursor, &key, &val, MDB_NEXT);
    }
    if (err == IH_OK && rc && rc != MDB_NOTFOUND)
        err = ih_log_int_mdb_err (self, "reading the index", rc);
    mdb_cursor_close (cursor);
    s_site_txn_end (self, txn);
    return err;
}

ih_err_t
ih_log_site_last (ih_log_t *self, const char *site, uint64_t *seq_p)
{
    assert (self);
    assert (site);
    assert (seq_p);
    *seq_p = 0;
    size_t len = strlen (site);
    if (len == 0 || len > IH_NAME_MAX)
        return IH_OK; //  no such site can have events
    MDB_txn *txn;
    int rc = s_site_txn_begin (self, &txn);
    if (rc)
        return ih_log_int_mdb_err (self, "mdb_txn_begin", rc);
    MDB_val key = {len, (void *) site}, val;
    ih_err_t err = IH_OK;
    rc = mdb_get (txn, self->sites, &key, &val);
    if (rc == 0 && val.mv_size == IH_LOG_SITE_VALUE)
        *seq_p = ih_record_get_u64 (val.mv_data);
    else if (rc == 0) {
        zsys_error ("log: bad chain head for site=%s in %s", site, self->dir);
        err = IH_E_STORE;
    } else if (rc != MDB_NOTFOUND)
        err = ih_log_int_mdb_err (self, "mdb_get sites", rc);
    s_site_txn_end (self, txn);
    return err;
}

ih_err_t
ih_log_pin (ih_log_t *self)
{
    assert (self);
    if (!self->readonly || self->pinned)
        return IH_E_BADARG;
    MDB_txn *txn;
    int rc = ih_log_int_read_begin (self, &txn);
    if (rc)
        return ih_log_int_mdb_err (self, "mdb_txn_begin", rc);
    self->pinned = txn;
    return IH_OK;
}

void
ih_log_unpin (ih_log_t *self)
{
    assert (self);
    if (self->pinned) {
        mdb_txn_abort (self->pinned);
        self->pinned = NULL;
        pthread_rwlock_unlock (&self->map_lock);
    }
}

//  --------------------------------------------------------------------------
//  Selftest

typedef struct {
    uint64_t count;
    uint64_t last;
    bool ordered;
} s_read_state_t;

static int
s_count_fn (uint64_t hub_seq, uint64_t received, const uint8_t *bytes,
            size_t size, void *arg)
{
    s_read_state_t *st = (s_read_state_t *) arg;
    ih_event_t event;
    if (hub_seq <= st->last || received == 0 ||
        ih_event_decode (bytes, size, &event) != IH_OK)
        st->ordered = false;
    st->last = hub_seq;
    st->count++;
    return 0;
}

static int
s_stop_fn (uint64_t hub_seq, uint64_t received, const uint8_t *bytes,
           size_t size, void *arg)
{
    (void) received;
    (void) bytes;
    (void) size;
    *(uint64_t *) arg = hub_seq;
    return 1;
}

//  Collects "seq@hub_seq;" of each event ih_log_site_events passes.
static int
s_site_event_fn (uint64_t hub_seq, uint64_t received, const uint8_t *bytes,
                 size_t size, void *arg)
{
    ih_event_t event;
    assert (received != 0);
    assert (ih_event_decode (bytes, size, &event) == IH_OK);
    char item[64];
    snprintf (item, sizeof item, "%" PRIu64 "@%" PRIu64 ";", event.seq,
              hub_seq);
    strcat ((char *) arg, item);
    return 0;
}

//  Signs event number seq of a chain; prev is the hash of the previous.
static uint8_t *
s_test_event (ih_key_t *key, uint64_t seq, const uint8_t *prev,
              const char *note, size_t *size_p)
{
    ih_event_t event;
    memset (&event, 0, sizeof (event));
    snprintf (event.site, sizeof (event.site), "%s", ih_key_name (key));
    snprintf (event.type, sizeof (event.type), "enterprise.admitted");
    event.seq = seq;
    event.ts = 1577404800000ULL + seq;
    if (prev)
        memcpy (event.prev, prev, IH_HASH_SIZE);
    //  msgpack {"n": <note str>} with a fixstr of up to 31 bytes or str8
    static uint8_t data[300];
    size_t len = strlen (note);
    assert (len < 256);
    size_t off = 0;
    data[off++] = 0x81;
    data[off++] = 0xa1;
    data[off++] = 'n';
    data[off++] = 0xd9;
    data[off++] = (uint8_t) len;
    memcpy (data + off, note, len);
    off += len;
    event.data = data;
    event.data_size = off;
    uint8_t *bytes = NULL;
    ih_err_t err = ih_event_sign (&event, key, &bytes, size_p);
    assert (err == IH_OK);
    return bytes;
}

static ih_err_t
s_test_append (ih_log_t *log, const uint8_t *bytes, size_t size,
               uint64_t *hub_seq_p, uint64_t *expected_p)
{
    ih_event_t event;
    ih_err_t err = ih_event_decode (bytes, size, &event);
    assert (err == IH_OK);
    return ih_log_append (log, &event, bytes, size, ih_event_now (), hub_seq_p,
                          expected_p);
}

//  Collects what ih_log_sites and ih_log_index report, as text.
static int
s_site_text_fn (const char *site, uint64_t last_seq, const uint8_t *last_hash,
                void *arg)
{
    char hex[IH_KEY_HEX_SIZE] = "damaged";
    if (last_hash)
        ih_key_to_hex (last_hash, hex);
    char line[200];
    snprintf (line, sizeof line, "%s %" PRIu64 " %.8s;", site, last_seq, hex);
    strcat ((char *) arg, line);
    return 0;
}

static int
s_index_text_fn (const char *site, uint64_t seq, uint64_t hub_seq, void *arg)
{
    char line[200];
    snprintf (line, sizeof line, "%s/%" PRIu64 "=%" PRIu64 ";", site, seq,
              hub_seq);
    strcat ((char *) arg, line);
    return 0;
}

static int
s_raw_fn (uint64_t hub_seq, uint64_t received, const uint8_t *bytes,
          size_t size, void *arg)
{
    s_read_state_t *st = (s_read_state_t *) arg;
    uint64_t stored_received;
    const uint8_t *event;
    size_t event_size;
    if (received != 0 || hub_seq <= st->last ||
        ih_record_decode (bytes, size, &stored_received, &event, &event_size) !=
            IH_OK ||
        stored_received == 0)
        st->ordered = false;
    st->last = hub_seq;
    st->count++;
    return 0;
}

static void
s_rmdir (const char *dir)
{
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/data.mdb", dir);
    remove (path);
    snprintf (path, sizeof (path), "%s/lock.mdb", dir);
    remove (path);
    rmdir (dir);
}

void
ih_log_test (bool verbose)
{
    printf (" * ih_log: ");
    if (verbose)
        printf ("\n");

    char tmpl[] = "/tmp/ih_log_test.XXXXXX";
    char *dir = mkdtemp (tmpl);
    assert (dir);
    ih_key_t *key = ih_key_new ("lh-inc-01");
    ih_key_t *key2 = ih_key_new ("ls-inc-02");
    assert (key && key2);

    ih_log_t *log = ih_log_new (dir, false, 0);
    assert (log);
    assert (ih_log_last (log) == 0);
    assert (ih_log_commit (log) == IH_E_BADARG); //  no batch open

    //  A chain of three events, plus one from another site
    uint8_t hash[3][IH_HASH_SIZE];
    uint8_t *ev[3];
    size_t ev_size[3];
    for (int i = 0; i < 3; i++) {
        ev[i] =
            s_test_event (key, i + 1, i ? hash[i - 1] : NULL, "x", &ev_size[i]);
        ih_event_hash (ev[i], ev_size[i], hash[i]);
    }
    size_t other_size;
    uint8_t *other = s_test_event (key2, 1, NULL, "y", &other_size);

    uint64_t hub_seq, expected;
    assert (ih_log_begin (log) == IH_OK);
    assert (ih_log_begin (log) == IH_E_BADARG);
    assert (s_test_append (log, ev[0], ev_size[0], &hub_seq, &expected) ==
            IH_OK);
    assert (hub_seq == 1);
    //  Duplicate within the same batch
    assert (s_test_append (log, ev[0], ev_size[0], &hub_seq, &expected) ==
            IH_E_DUPLICATE);
    assert (hub_seq == 1);
    assert (s_test_append (log, other, other_size, &hub_seq, &expected) ==
            IH_OK);
    assert (hub_seq == 2);
    //  Not visible before commit
    assert (ih_log_last (log) == 0);
    assert (ih_log_commit (log) == IH_OK);
    assert (ih_log_last (log) == 2);

    //  Duplicate after commit, conflict, gap, chain
    assert (ih_log_begin (log) == IH_OK);
    assert (s_test_append (log, ev[0], ev_size[0], &hub_seq, &expected) ==
            IH_E_DUPLICATE);
    assert (hub_seq == 1);
    size_t alt_size;
    uint8_t *alt = s_test_event (key, 1, NULL, "different", &alt_size);
    assert (s_test_append (log, alt, alt_size, &hub_seq, &expected) ==
            IH_E_CONFLICT);
    free (alt);
    assert (s_test_append (log, ev[2], ev_size[2], &hub_seq, &expected) ==
            IH_E_GAP);
    assert (expected == 2);
    uint8_t bad_prev[IH_HASH_SIZE];
    memset (bad_prev, 0xab, sizeof (bad_prev));
    size_t broken_size;
    uint8_t *broken = s_test_event (key, 2, bad_prev, "x", &broken_size);
    assert (s_test_append (log, broken, broken_size, &hub_seq, &expected) ==
            IH_E_CHAIN);
    assert (expected == 2);
    free (broken);
    //  Seq 1 must have a zero prev hash
    size_t first_bad_size;
    ih_key_t *key3 = ih_key_new ("cy-inc-03");
    uint8_t *first_bad = s_test_event (key3, 1, bad_prev, "x", &first_bad_size);
    assert (s_test_append (log, first_bad, first_bad_size, &hub_seq,
                           &expected) == IH_E_CHAIN);
    free (first_bad);
    ih_key_destroy (&key3);
    assert (s_test_append (log, ev[1], ev_size[1], &hub_seq, &expected) ==
            IH_OK);
    assert (hub_seq == 3);
    assert (s_test_append (log, ev[2], ev_size[2], &hub_seq, &expected) ==
            IH_OK);
    assert (hub_seq == 4);
    assert (ih_log_commit (log) == IH_OK);

    //  An aborted batch leaves no trace and hub_seq is reused
    size_t ev4_size;
    uint8_t *ev4 = s_test_event (key, 4, hash[2], "x", &ev4_size);
    assert (ih_log_begin (log) == IH_OK);
    assert (s_test_append (log, ev4, ev4_size, &hub_seq, &expected) == IH_OK);
    assert (hub_seq == 5);
    ih_log_abort (log);
    assert (ih_log_last (log) == 4);
    //  ... nor in the Merkle tree (it_tree tests the tree in depth)
    uint8_t root[IH_MERKLE_HASH_SIZE];
    assert (ih_log_root (log, 4, root) == IH_OK);
    assert (ih_log_root (log, 5, root) == IH_E_BADARG);
    assert (ih_log_verify (log, NULL, NULL, NULL) == IH_OK);

    uint64_t events, bytes, sites;
    ih_log_stats (log, &events, &bytes, &sites);
    assert (events == 4 && sites == 2 && bytes > 0);
    uint64_t bytes_before = bytes;
    ih_log_destroy (&log);
    ih_log_destroy (&log);
    assert (log == NULL);

    //  Reopen: everything is still there, and the chain goes on
    log = ih_log_new (dir, false, 0);
    assert (log);
    assert (ih_log_last (log) == 4);
    ih_log_stats (log, &events, &bytes, &sites);
    assert (events == 4 && sites == 2 && bytes == bytes_before);
    assert (ih_log_begin (log) == IH_OK);
    assert (s_test_append (log, ev[2], ev_size[2], &hub_seq, &expected) ==
            IH_E_DUPLICATE);
    assert (hub_seq == 4);
    assert (s_test_append (log, ev4, ev4_size, &hub_seq, &expected) == IH_OK);
    assert (hub_seq == 5);
    assert (ih_log_commit (log) == IH_OK);
    //  A batch with no appends commits as a no-op
    assert (ih_log_begin (log) == IH_OK);
    assert (ih_log_commit (log) == IH_OK);

    //  Read iteration
    s_read_state_t st = {0, 0, true};
    assert (ih_log_read (log, 0, 0, s_count_fn, &st) == IH_OK);
    assert (st.count == 5 && st.last == 5 && st.ordered);
    st = (s_read_state_t){0, 0, true};
    assert (ih_log_read (log, 3, 0, s_count_fn, &st) == IH_OK);
    assert (st.count == 3 && st.last == 5 && st.ordered);
    st = (s_read_state_t){0, 0, true};
    assert (ih_log_read (log, 2, 2, s_count_fn, &st) == IH_OK);
    assert (st.count == 2 && st.last == 3);
    st = (s_read_state_t){0, 0, true};
    assert (ih_log_read (log, 6, 0, s_count_fn, &st) == IH_OK);
    assert (st.count == 0);
    uint64_t stopped = 0;
    assert (ih_log_read (log, 2, 0, s_stop_fn, &stopped) == IH_OK);
    assert (stopped == 2);

    //  One site's events through the index, from a seq on, and its last seq
    char seen[256] = "";
    assert (ih_log_site_events (log, "lh-inc-01", 1, s_site_event_fn, seen) ==
            IH_OK);
    assert (streq (seen, "1@1;2@3;3@4;4@5;"));
    seen[0] = 0;
    assert (ih_log_site_events (log, "lh-inc-01", 3, s_site_event_fn, seen) ==
            IH_OK);
    assert (streq (seen, "3@4;4@5;"));
    seen[0] = 0;
    assert (ih_log_site_events (log, "lh-inc-01", 0, s_site_event_fn, seen) ==
            IH_OK);
    assert (streq (seen, "1@1;2@3;3@4;4@5;"));
    seen[0] = 0;
    assert (ih_log_site_events (log, "ls-inc-02", 1, s_site_event_fn, seen) ==
            IH_OK);
    assert (streq (seen, "1@2;"));
    //  A prefix of a site id, an unknown site, a seq beyond the last
    const char *none[] = {"lh-inc-0", "lh-inc-01x", "a", "zz", ""};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        seen[0] = 0;
        assert (ih_log_site_events (log, none[i], 1, s_site_event_fn, seen) ==
                IH_OK);
        assert (streq (seen, ""));
    }
    seen[0] = 0;
    assert (ih_log_site_events (log, "lh-inc-01", 5, s_site_event_fn, seen) ==
            IH_OK);
    assert (streq (seen, ""));
    stopped = 0;
    assert (ih_log_site_events (log, "lh-inc-01", 2, s_stop_fn, &stopped) ==
            IH_OK);
    assert (stopped == 3);
    uint64_t site_last = 99;
    assert (ih_log_site_last (log, "lh-inc-01", &site_last) == IH_OK);
    assert (site_last == 4);
    assert (ih_log_site_last (log, "ls-inc-02", &site_last) == IH_OK);
    assert (site_last == 1);
    assert (ih_log_site_last (log, "lh-inc-0", &site_last) == IH_OK);
    assert (site_last == 0);
    assert (ih_log_site_last (log, "", &site_last) == IH_OK);
    assert (site_last == 0);
    //  Inside a batch the writer sees what the batch appended; an abort
    //  takes it back
    uint8_t hash_ev4[IH_HASH_SIZE];
    ih_event_hash (ev4, ev4_size, hash_ev4);
    size_t ev5_size;
    uint8_t *ev5 = s_test_event (key, 5, hash_ev4, "x", &ev5_size);
    assert (ih_log_begin (log) == IH_OK);
    assert (ih_log_site_last (log, "lh-inc-01", &site_last) == IH_OK);
    assert (site_last == 4);
    assert (s_test_append (log, ev5, ev5_size, &hub_seq, &expected) == IH_OK);
    assert (ih_log_site_last (log, "lh-inc-01", &site_last) == IH_OK);
    assert (site_last == 5);
    seen[0] = 0;
    assert (ih_log_site_events (log, "lh-inc-01", 4, s_site_event_fn, seen) ==
            IH_OK);
    assert (streq (seen, "4@5;5@6;"));
    ih_log_abort (log);
    assert (ih_log_site_last (log, "lh-inc-01", &site_last) == IH_OK);
    assert (site_last == 4);
    free (ev5);
    ih_log_destroy (&log);

    //  Read-only: sees everything, cannot write
    log = ih_log_new (dir, true, 0);
    assert (log);
    assert (ih_log_last (log) == 5);
    ih_log_stats (log, &events, &bytes, &sites);
    assert (events == 5 && sites == 2);
    assert (ih_log_begin (log) == IH_E_BADARG);
    st = (s_read_state_t){0, 0, true};
    assert (ih_log_read (log, 1, 0, s_count_fn, &st) == IH_OK);
    assert (st.count == 5 && st.ordered);

    //  A pinned snapshot, the raw reader and the table iterators
    assert (ih_log_pin (log) == IH_OK);
    assert (ih_log_pin (log) == IH_E_BADARG);
    assert (ih_log_last (log) == 5);
    st = (s_read_state_t){0, 0, true};
    assert (ih_log_read_raw (log, 1, 0, s_raw_fn, &st) == IH_OK);
    assert (st.count == 5 && st.last == 5 && st.ordered);
    char text[1024] = "";
    assert (ih_log_sites (log, s_site_text_fn, text) == IH_OK);
    char head4[IH_KEY_HEX_SIZE], head_other[IH_KEY_HEX_SIZE];
    uint8_t hash4[IH_HASH_SIZE], hash_other[IH_HASH_SIZE];
    ih_event_hash (ev4, ev4_size, hash4);
    ih_event_hash (other, other_size, hash_other);
    ih_key_to_hex (hash4, head4);
    ih_key_to_hex (hash_other, head_other);
    char expect[1024];
    snprintf (expect, sizeof expect, "lh-inc-01 4 %.8s;ls-inc-02 1 %.8s;",
              head4, head_other);
    assert (streq (text, expect));
    text[0] = 0;
    assert (ih_log_index (log, s_index_text_fn, text) == IH_OK);
    assert (streq (text, "lh-inc-01/1=1;lh-inc-01/2=3;lh-inc-01/3=4;"
                         "lh-inc-01/4=5;ls-inc-02/1=2;"));
    text[0] = 0;
    assert (ih_log_site_events (log, "lh-inc-01", 2, s_site_event_fn, text) ==
            IH_OK);
    assert (streq (text, "2@3;3@4;4@5;"));
    assert (ih_log_site_last (log, "lh-inc-01", &site_last) == IH_OK);
    assert (site_last == 4);
    ih_log_unpin (log);
    ih_log_unpin (log);
    ih_log_destroy (&log);

    //  Read-only open of something that is not a log fails cleanly
    char tmpl2[] = "/tmp/ih_log_test.XXXXXX";
    char *empty = mkdtemp (tmpl2);
    assert (empty);
    assert (ih_log_new (empty, true, 0) == NULL);
    s_rmdir (empty);

    //  A tiny map fills up: IH_E_FULL, abort, the log stays consistent
    char tmpl3[] = "/tmp/ih_log_test.XXXXXX";
    char *small = mkdtemp (tmpl3);
    assert (small);
    log = ih_log_new (small, false, 256 * 1024);
    assert (log);
    char note[201];
    memset (note, 'q', 200);
    note[200] = 0;
    uint8_t prev[IH_HASH_SIZE] = {0};
    uint64_t seq = 1;
    ih_err_t err = IH_OK;
    //  Small committed batches until the map is full
    while (err == IH_OK && seq < 100000) {
        assert (ih_log_begin (log) == IH_OK);
        uint64_t batch_first = seq;
        uint8_t batch_prev[IH_HASH_SIZE];
        memcpy (batch_prev, prev, IH_HASH_SIZE);
        for (int i = 0; i < 10 && err == IH_OK; i++) {
            size_t size;
            uint8_t *bytes = s_test_event (key, seq, prev, note, &size);
            err = s_test_append (log, bytes, size, &hub_seq, &expected);
            if (err == IH_OK) {
                ih_event_hash (bytes, size, prev);
                seq++;
            }
            free (bytes);
        }
        if (err == IH_OK)
            err = ih_log_commit (log);
        else {
            //  Later appends of a doomed batch report the same error
            assert (s_test_append (log, ev[0], ev_size[0], &hub_seq,
                                   &expected) == err);
            assert (ih_log_commit (log) == err);
        }
        if (err != IH_OK) {
            seq = batch_first;
            memcpy (prev, batch_prev, IH_HASH_SIZE);
        }
    }
    assert (err == IH_E_FULL);
    uint64_t last = ih_log_last (log);
    assert (last == seq - 1);
    st = (s_read_state_t){0, 0, true};
    assert (ih_log_read (log, 0, 0, s_count_fn, &st) == IH_OK);
    assert (st.count == last && st.last == last && st.ordered);
    ih_log_destroy (&log);
    //  And after a reopen
    log = ih_log_new (small, true, 0);
    assert (log);
    assert (ih_log_last (log) == last);
    ih_log_stats (log, &events, &bytes, &sites);
    assert (events == last && sites == 1);
    ih_log_destroy (&log);
    if (verbose)
        printf ("   map of 256 KiB held %" PRIu64 " events\n", last);
    s_rmdir (small);

    //  One huge batch fills the map inside ih_log_append: the batch is
    //  doomed, later appends and the commit report IH_E_FULL, nothing of
    //  it is kept, and what was committed before stays
    char tmpl4[] = "/tmp/ih_log_test.XXXXXX";
    small = mkdtemp (tmpl4);
    assert (small);
    log = ih_log_new (small, false, 256 * 1024);
    assert (log);
    assert (ih_log_begin (log) == IH_OK);
    assert (s_test_append (log, ev[0], ev_size[0], &hub_seq, &expected) ==
            IH_OK);
    assert (ih_log_commit (log) == IH_OK);
    assert (ih_log_begin (log) == IH_OK);
    memset (prev, 0, sizeof (prev));
    seq = 1;
    err = IH_OK;
    while (err == IH_OK && seq < 100000) {
        size_t size;
        uint8_t *bytes = s_test_event (key2, seq, prev, note, &size);
        err = s_test_append (log, bytes, size, &hub_seq, &expected);
        ih_event_hash (bytes, size, prev);
        seq++;
        free (bytes);
    }
    assert (err == IH_E_FULL);
    assert (s_test_append (log, ev[1], ev_size[1], &hub_seq, &expected) ==
            IH_E_FULL);
    assert (ih_log_commit (log) == IH_E_FULL);
    assert (ih_log_last (log) == 1);
    //  The log still takes a small batch
    assert (ih_log_begin (log) == IH_OK);
    assert (s_test_append (log, ev[1], ev_size[1], &hub_seq, &expected) ==
            IH_OK);
    assert (hub_seq == 2);
    assert (ih_log_commit (log) == IH_OK);
    ih_log_destroy (&log);
    log = ih_log_new (small, true, 0);
    assert (log);
    assert (ih_log_last (log) == 2);
    ih_log_stats (log, &events, &bytes, &sites);
    assert (events == 2 && sites == 1);
    ih_log_destroy (&log);
    s_rmdir (small);

    //  Damage: the sites db lost a chain head that the index still knows.
    //  Appending that site's seq 1 again answers IH_E_CONFLICT for that
    //  event only; the rest of the batch commits.
    char tmpl5[] = "/tmp/ih_log_test.XXXXXX";
    char *damaged = mkdtemp (tmpl5);
    assert (damaged);
    log = ih_log_new (damaged, false, 0);
    assert (log);
    assert (ih_log_pin (log) == IH_E_BADARG); //  writers cannot pin
    assert (ih_log_begin (log) == IH_OK);
    assert (s_test_append (log, ev[0], ev_size[0], &hub_seq, &expected) ==
            IH_OK);
    assert (s_test_append (log, other, other_size, &hub_seq, &expected) ==
            IH_OK);
    assert (ih_log_commit (log) == IH_OK);
    MDB_txn *txn;
    assert (mdb_txn_begin (log->env, NULL, 0, &txn) == 0);
    MDB_val skey = {strlen ("ls-inc-02"), (void *) "ls-inc-02"};
    assert (mdb_del (txn, log->sites, &skey, NULL) == 0);
    assert (mdb_txn_commit (txn) == 0);
    assert (ih_log_begin (log) == IH_OK);
    assert (s_test_append (log, other, other_size, &hub_seq, &expected) ==
            IH_E_CONFLICT);
    assert (s_test_append (log, ev[1], ev_size[1], &hub_seq, &expected) ==
            IH_OK);
    assert (hub_seq == 3);
    assert (ih_log_commit (log) == IH_OK);
    assert (ih_log_last (log) == 3);
    ih_log_destroy (&log);
    s_rmdir (damaged);

    for (int i = 0; i < 3; i++)
        free (ev[i]);
    free (ev4);
    free (other);
    ih_key_destroy (&key);
    ih_key_destroy (&key2);
    s_rmdir (dir);
    printf ("OK\n");
}
