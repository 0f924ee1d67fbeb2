/*  =========================================================================
    ih_log_tree - the hub log's Merkle tree and signed checkpoints

    Part of the ih_log module (hub/ih_log.h declares its API; the essay on
    durability, threads and layout is at the top of ih_log.c). Where it
    sits: ih_log_append adds each record's leaf here, in the batch's write
    transaction; the ingest actor stores the checkpoints it signs; the
    replay service, `incuhub prove` and the tests read roots and proofs;
    the hub calls ih_log_verify at start.

    Storage: `tree` maps level (1 byte) || index (u64 BE) to the hash of
    every complete subtree (proto/ih_merkle.h's store model), `checkpoints`
    maps a tree size (u64 BE) to the signed checkpoint of that size.
    Readers open their own read transaction and check sizes against the
    committed last hub_seq of that same snapshot.

    ih_log_verify does not trust the stored tree: it recomputes every leaf
    and every complete subtree from the records with a store of its own
    (the two latest subtrees of each level, all that appending and taking
    the current root need), compares each with the stored node, and
    compares the recomputed root at every checkpoint's size with that
    checkpoint's root.
    =========================================================================*/
#include "ih_checkpoint.h"
#include "ih_log_internal.h"
#include "ih_merkle.h"
#include "ih_record.h"

//  Merkle store callbacks over one LMDB transaction (ih_merkle.h).

void
ih_log_int_tree_key (uint64_t level, uint64_t index, uint8_t *key)
{
    key[0] = (uint8_t) level;
    ih_record_put_u64 (key + 1, index);
}

int
ih_log_int_tree_get (uint64_t level, uint64_t index, uint8_t *hash_out,
                     void *arg)
{
    ih_log_int_tree_io_t *io = (ih_log_int_tree_io_t *) arg;
    uint8_t k[IH_LOG_TREE_KEY];
    ih_log_int_tree_key (level, index, k);
    MDB_val key = {sizeof k, k}, val;
    int rc = mdb_get (io->txn, io->self->tree, &key, &val);
    if (rc == 0 && val.mv_size == IH_MERKLE_HASH_SIZE) {
        memcpy (hash_out, val.mv_data, IH_MERKLE_HASH_SIZE);
        return 0;
    }
    io->rc = rc ? rc : MDB_CORRUPTED;
    zsys_error ("log: tree node level=%" PRIu64 " index=%" PRIu64 " %s in %s",
                level, index, rc ? mdb_strerror (rc) : "damaged",
                io->self->dir);
    return -1;
}

int
ih_log_int_tree_put (uint64_t level, uint64_t index, const uint8_t *hash,
                     void *arg)
{
    ih_log_int_tree_io_t *io = (ih_log_int_tree_io_t *) arg;
    uint8_t k[IH_LOG_TREE_KEY];
    ih_log_int_tree_key (level, index, k);
    MDB_val key = {sizeof k, k}, val = {IH_MERKLE_HASH_SIZE, (void *) hash};
    io->rc = mdb_put (io->txn, io->self->tree, &key, &val, 0);
    return io->rc ? -1 : 0;
}

//  Format 1 to 2: adds every stored record's leaf to the (empty) tree, in
//  the opening transaction.
int
ih_log_int_build_tree (ih_log_t *self, MDB_txn *txn, uint64_t *count_p)
{
    int rc = mdb_drop (txn, self->tree, 0);
    MDB_cursor *cursor;
    if (rc == 0)
        rc = mdb_cursor_open (txn, self->log, &cursor);
    if (rc)
        return rc;
    ih_log_int_tree_io_t io = {self, txn, 0};
    MDB_val key, val;
    uint64_t count = 0;
    rc = mdb_cursor_get (cursor, &key, &val, MDB_FIRST);
    while (rc == 0) {
        if (key.mv_size != 8 || ih_record_get_u64 (key.mv_data) != count + 1) {
            zsys_error ("log: cannot build the tree of %s: hub_seq=%" PRIu64
                        " is missing",
                        self->dir, count + 1);
            rc = MDB_CORRUPTED;
            break;
        }
        uint8_t leaf[IH_MERKLE_HASH_SIZE];
        ih_merkle_leaf_hash (val.mv_data, val.mv_size, leaf);
        //  io.txn's cursor stays valid across puts to another dbi
        if (ih_merkle_append (count, leaf, ih_log_int_tree_get, &io,
                              ih_log_int_tree_put, &io) != IH_OK) {
            rc = io.rc ? io.rc : MDB_CORRUPTED;
            break;
        }
        count++;
        rc = mdb_cursor_get (cursor, &key, &val, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    *count_p = count;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

//  --------------------------------------------------------------------------
//  The Merkle tree and checkpoints

//  Begins the read transaction of a tree reader in io and checks size
//  against the committed last hub_seq of that same snapshot.
//  Errors: IH_E_STORE, IH_E_FULL, IH_E_BADARG (size beyond the log; no
//  transaction is left open).
static ih_err_t
s_tree_begin (ih_log_t *self, uint64_t size, ih_log_int_tree_io_t *io)
{
    if (!self->has_tree) {
        zsys_error ("log: %s has no Merkle tree (format 1; the hub upgrades "
                    "it when it next starts)",
                    self->dir);
        return IH_E_STORE;
    }
    *io = (ih_log_int_tree_io_t){self, NULL, 0};
    ih_err_t err = ih_log_int_reader_begin (self, &io->txn);
    if (err != IH_OK)
        return err;
    uint64_t last, events, bytes, sites;
    int rc =
        ih_log_int_read_state (self, io->txn, &last, &events, &bytes, &sites);
    if (rc)
        err = ih_log_int_mdb_err (self, "reading state", rc);
    else if (size > last)
        err = IH_E_BADARG;
    if (err != IH_OK)
        ih_log_int_read_end (self, io->txn);
    return err;
}

ih_err_t
ih_log_root (ih_log_t *self, uint64_t size, uint8_t *root)
{
    assert (self);
    assert (root);
    ih_log_int_tree_io_t io;
    ih_err_t err = s_tree_begin (self, size, &io);
    if (err != IH_OK)
        return err;
    err = ih_merkle_root (size, ih_log_int_tree_get, &io, root);
    ih_log_int_read_end (self, io.txn);
    return err;
}

ih_err_t
ih_log_inclusion_proof (ih_log_t *self, uint64_t hub_seq, uint64_t size,
                        uint8_t **path_p, size_t *len_p)
{
    assert (self);
    assert (path_p && len_p);
    *path_p = NULL;
    *len_p = 0;
    ih_log_int_tree_io_t io;
    ih_err_t err = s_tree_begin (self, size, &io);
    if (err != IH_OK)
        return err;
    if (hub_seq == 0 || hub_seq > size)
        err = IH_E_BADARG;
    else
        err = ih_merkle_inclusion_proof (hub_seq - 1, size, ih_log_int_tree_get,
                                         &io, path_p, len_p);
    ih_log_int_read_end (self, io.txn);
    return err;
}

ih_err_t
ih_log_consistency_proof (ih_log_t *self, uint64_t old_size, uint64_t new_size,
                          uint8_t **proof_p, size_t *len_p)
{
    assert (self);
    assert (proof_p && len_p);
    *proof_p = NULL;
    *len_p = 0;
    ih_log_int_tree_io_t io;
    ih_err_t err = s_tree_begin (self, new_size, &io);
    if (err != IH_OK)
        return err;
    if (old_size > new_size)
        err = IH_E_BADARG;
    else
        err = ih_merkle_consistency_proof (
            old_size, new_size, ih_log_int_tree_get, &io, proof_p, len_p);
    ih_log_int_read_end (self, io.txn);
    return err;
}

ih_err_t
ih_log_checkpoint (ih_log_t *self, uint64_t size, uint8_t *out, size_t *size_p)
{
    assert (self);
    assert (out && size_p);
    *size_p = 0;
    if (!self->has_tree)
        return IH_E_MISSING;
    MDB_txn *txn;
    ih_err_t err = ih_log_int_reader_begin (self, &txn);
    if (err != IH_OK)
        return err;
    uint8_t k[8];
    ih_record_put_u64 (k, size);
    MDB_val key = {8, k}, val;
    int rc;
    if (size)
        rc = mdb_get (txn, self->checkpoints, &key, &val);
    else {
        MDB_cursor *cursor;
        rc = mdb_cursor_open (txn, self->checkpoints, &cursor);
        if (rc == 0) {
            rc = mdb_cursor_get (cursor, &key, &val, MDB_LAST);
            mdb_cursor_close (cursor);
        }
    }
    if (rc == MDB_NOTFOUND)
        err = IH_E_MISSING;
    else if (rc)
        err = ih_log_int_mdb_err (self, "reading a checkpoint", rc);
    else if (val.mv_size > IH_CHECKPOINT_MAX) {
        zsys_error ("log: oversize checkpoint in %s", self->dir);
        err = IH_E_STORE;
    } else {
        memcpy (out, val.mv_data, val.mv_size);
        *size_p = val.mv_size;
    }
    ih_log_int_read_end (self, txn);
    return err;
}

static int
s_checkpoint_entry (const MDB_val *key, const MDB_val *val, void *arg)
{
    (void) key;
    ih_log_int_walk_t *walk = (ih_log_int_walk_t *) arg;
    return walk->checkpoint_fn ((const uint8_t *) val->mv_data, val->mv_size,
                                walk->arg);
}

ih_err_t
ih_log_checkpoints (ih_log_t *self, ih_log_checkpoint_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    if (!self->has_tree)
        return IH_OK; //  a format-1 log has no checkpoints
    ih_log_int_walk_t walk = {NULL, NULL, fn, arg};
    return ih_log_int_walk (self, self->checkpoints, NULL, s_checkpoint_entry,
                            &walk);
}

ih_err_t
ih_log_put_checkpoint (ih_log_t *self, const uint8_t *bytes, size_t size)
{
    assert (self);
    ih_checkpoint_t checkpoint;
    if (self->readonly || !bytes ||
        ih_checkpoint_decode (bytes, size, &checkpoint) != IH_OK)
        return IH_E_BADARG;
    if (self->txn && self->failed != IH_OK)
        return self->failed;
    uint64_t tree_size = self->txn ? self->next - 1 : self->last;
    if (checkpoint.size > tree_size)
        return IH_E_BADARG;
    uint8_t k[8];
    ih_record_put_u64 (k, checkpoint.size);
    MDB_val key = {8, k}, val = {size, (void *) bytes};
    if (self->txn) {
        int rc = mdb_put (self->txn, self->checkpoints, &key, &val, 0);
        if (rc)
            return ih_log_int_fail (self, "mdb_put checkpoints", rc);
        self->batch_checkpoint = true;
        return IH_OK;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc)
        return ih_log_int_mdb_err (self, "mdb_txn_begin", rc);
    rc = mdb_put (txn, self->checkpoints, &key, &val, 0);
    if (rc) {
        mdb_txn_abort (txn);
        return ih_log_int_mdb_err (self, "mdb_put checkpoints", rc);
    }
    rc = mdb_txn_commit (txn);
    return rc ? ih_log_int_mdb_err (self, "mdb_txn_commit", rc) : IH_OK;
}

ih_err_t
ih_log_batch_root (ih_log_t *self, uint64_t *size_p, uint8_t *root)
{
    assert (self);
    assert (size_p && root);
    if (!self->txn)
        return IH_E_BADARG;
    if (self->failed != IH_OK)
        return self->failed;
    *size_p = self->next - 1;
    ih_log_int_tree_io_t io = {self, self->txn, 0};
    return ih_merkle_root (*size_p, ih_log_int_tree_get, &io, root);
}

//  ih_log_verify's own Merkle store: the latest complete subtree of each
//  level (the "frontier"), which is all that appending the next leaf and
//  taking the root of the current size need. Each put is also compared
//  with the hub's stored node.
typedef struct {
    ih_log_t *self;
    MDB_txn *txn;
    //  The two latest subtrees of each level (ih_merkle_append puts a
    //  node before it gets its left sibling): slot [l][n & 1] holds (l, n)
    uint64_t levels[2]; //  bit l of levels[s]: slot [l][s] is set
    uint64_t index[64][2];
    uint8_t hash[64][2][IH_MERKLE_HASH_SIZE];
    uint64_t hub_seq; //  the record being added
    uint64_t bad;     //  first hub_seq whose node differs, or 0
    char why[200];    //  the difference, in words
    int rc;           //  LMDB error, or 0
} s_frontier_t;

static int
s_frontier_get (uint64_t level, uint64_t index, uint8_t *hash_out, void *arg)
{
    s_frontier_t *fr = (s_frontier_t *) arg;
    int slot = (int) (index & 1);
    if (level >= 64 || !(fr->levels[slot] & ((uint64_t) 1 << level)) ||
        fr->index[level][slot] != index)
        return -1;
    memcpy (hash_out, fr->hash[level][slot], IH_MERKLE_HASH_SIZE);
    return 0;
}

static int
s_frontier_put (uint64_t level, uint64_t index, const uint8_t *hash, void *arg)
{
    s_frontier_t *fr = (s_frontier_t *) arg;
    if (level >= 64)
        return -1;
    int slot = (int) (index & 1);
    fr->levels[slot] |= (uint64_t) 1 << level;
    fr->index[level][slot] = index;
    memcpy (fr->hash[level][slot], hash, IH_MERKLE_HASH_SIZE);
    if (fr->bad)
        return 0;
    uint8_t k[IH_LOG_TREE_KEY];
    ih_log_int_tree_key (level, index, k);
    MDB_val key = {sizeof k, k}, val;
    int rc = mdb_get (fr->txn, fr->self->tree, &key, &val);
    if (rc && rc != MDB_NOTFOUND) {
        fr->rc = rc;
        return -1;
    }
    if (rc == 0 && val.mv_size == IH_MERKLE_HASH_SIZE &&
        memcmp (val.mv_data, hash, IH_MERKLE_HASH_SIZE) == 0)
        return 0;
    fr->bad = fr->hub_seq;
    if (level == 0)
        snprintf (fr->why, sizeof fr->why,
                  "the stored record of hub_seq=%" PRIu64 " %s", fr->hub_seq,
                  rc ? "has no leaf in the Merkle tree"
                     : "does not match its leaf in the Merkle tree (changed?)");
    else
        snprintf (fr->why, sizeof fr->why,
                  "Merkle tree node level=%" PRIu64 " index=%" PRIu64 " is %s",
                  level, index, rc ? "missing" : "not what the records give");
    return 0;
}

//  Sets the verdict of ih_log_verify (first fault only).
static void
s_verify_fail (s_frontier_t *fr, uint64_t hub_seq, const char *why)
{
    if (!fr->bad) {
        fr->bad = hub_seq;
        snprintf (fr->why, sizeof fr->why, "%s", why);
    }
}

//  Checks one stored checkpoint against the frontier of its size.
static void
s_verify_checkpoint (s_frontier_t *fr, const MDB_val *key, const MDB_val *val,
                     ih_checkpoint_t *checkpoint)
{
    char why[200];
    uint64_t size = key->mv_size == 8 ? ih_record_get_u64 (key->mv_data) : 0;
    if (key->mv_size != 8 ||
        ih_checkpoint_decode (val->mv_data, val->mv_size, checkpoint) !=
            IH_OK ||
        checkpoint->size != size) {
        snprintf (why, sizeof why,
                  "the checkpoint stored under size=%" PRIu64 " is damaged",
                  size);
        s_verify_fail (fr, size ? size : 1, why);
        return;
    }
    uint8_t root[IH_MERKLE_HASH_SIZE];
    if (ih_merkle_root (size, s_frontier_get, fr, root) != IH_OK ||
        memcmp (root, checkpoint->root, IH_MERKLE_HASH_SIZE) != 0) {
        snprintf (why, sizeof why,
                  "the records 1..%" PRIu64 " do not give the root of the "
                  "signed checkpoint of size=%" PRIu64 " (rewritten?)",
                  size, size);
        s_verify_fail (fr, size ? size : 1, why);
    }
}

ih_err_t
ih_log_verify (ih_log_t *self, ih_key_t *hub_key, uint64_t *bad_hub_seq_p,
               char **why_p)
{
    assert (self);
    if (bad_hub_seq_p)
        *bad_hub_seq_p = 0;
    if (why_p)
        *why_p = NULL;
    ih_log_int_tree_io_t io;
    ih_err_t err = s_tree_begin (self, 0, &io);
    if (err != IH_OK)
        return err;
    MDB_txn *txn = io.txn;
    s_frontier_t *fr = (s_frontier_t *) zmalloc (sizeof (s_frontier_t));
    assert (fr);
    fr->self = self;
    fr->txn = txn;
    MDB_cursor *records = NULL, *checkpoints = NULL;
    int rc = mdb_cursor_open (txn, self->log, &records);
    if (rc == 0)
        rc = mdb_cursor_open (txn, self->checkpoints, &checkpoints);
    MDB_val rkey, rval, ckey, cval;
    int crc = rc ? rc : mdb_cursor_get (checkpoints, &ckey, &cval, MDB_FIRST);
    uint8_t latest[IH_CHECKPOINT_MAX];
    size_t latest_size = 0;
    ih_checkpoint_t checkpoint;
    char why[200];
    uint64_t count = 0;
    //  Checkpoints of size 0 (the empty tree) come before any record
    while (crc == 0 && !fr->bad && ckey.mv_size == 8 &&
           ih_record_get_u64 (ckey.mv_data) == 0) {
        s_verify_checkpoint (fr, &ckey, &cval, &checkpoint);
        crc = mdb_cursor_get (checkpoints, &ckey, &cval, MDB_NEXT);
    }
    rc = rc ? rc : mdb_cursor_get (records, &rkey, &rval, MDB_FIRST);
    while (rc == 0 && !fr->bad) {
        fr->hub_seq = count + 1;
        if (rkey.mv_size != 8 ||
            ih_record_get_u64 (rkey.mv_data) != fr->hub_seq) {
            s_verify_fail (fr, fr->hub_seq, "the record is missing (removed?)");
            break;
        }
        uint8_t leaf[IH_MERKLE_HASH_SIZE];
        ih_merkle_leaf_hash (rval.mv_data, rval.mv_size, leaf);
        if (ih_merkle_append (count, leaf, s_frontier_get, fr, s_frontier_put,
                              fr) != IH_OK) {
            rc = fr->rc ? fr->rc : MDB_CORRUPTED;
            break;
        }
        count++;
        while (
            crc == 0 && !fr->bad &&
            (ckey.mv_size != 8 || ih_record_get_u64 (ckey.mv_data) <= count)) {
            s_verify_checkpoint (fr, &ckey, &cval, &checkpoint);
            if (cval.mv_size <= IH_CHECKPOINT_MAX) {
                memcpy (latest, cval.mv_data, cval.mv_size);
                latest_size = cval.mv_size;
            }
            crc = mdb_cursor_get (checkpoints, &ckey, &cval, MDB_NEXT);
        }
        rc = mdb_cursor_get (records, &rkey, &rval, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (rc == 0 && crc != 0 && crc != MDB_NOTFOUND)
        rc = crc;
    if (rc == 0 && !fr->bad && crc == 0) {
        //  A checkpoint beyond the records: the tail was cut off
        uint64_t size =
            ckey.mv_size == 8 ? ih_record_get_u64 (ckey.mv_data) : 0;
        snprintf (why, sizeof why,
                  "a signed checkpoint covers %" PRIu64
                  " events but the log ends at hub_seq=%" PRIu64
                  " (records cut off?)",
                  size, count);
        s_verify_fail (fr, count + 1, why);
    }
    MDB_stat st;
    if (rc == 0 && !fr->bad && (rc = mdb_stat (txn, self->tree, &st)) == 0) {
        //  Every complete subtree of the tree of size count: 2n - popcount
        uint64_t nodes = 0;
        for (uint64_t n = count; n; n >>= 1)
            nodes += n;
        if (st.ms_entries != nodes) {
            snprintf (why, sizeof why,
                      "the Merkle tree has %zu nodes where %" PRIu64
                      " records need %" PRIu64 " (records cut off?)",
                      (size_t) st.ms_entries, count, nodes);
            s_verify_fail (fr, count + 1, why);
        }
    }
    if (rc == 0 && !fr->bad && hub_key && latest_size) {
        ih_checkpoint_decode (latest, latest_size, &checkpoint);
        if (!streq (checkpoint.log_id, ih_key_name (hub_key)) ||
            ih_checkpoint_verify (latest, latest_size,
                                  ih_key_public (hub_key)) != IH_OK) {
            snprintf (why, sizeof why,
                      "the latest checkpoint (size=%" PRIu64
                      ") is not signed by hub key '%s'",
                      checkpoint.size, ih_key_name (hub_key));
            s_verify_fail (fr, checkpoint.size ? checkpoint.size : 1, why);
        }
    }
    if (records)
        mdb_cursor_close (records);
    if (checkpoints)
        mdb_cursor_close (checkpoints);
    ih_log_int_read_end (self, txn);
    if (rc)
        err = ih_log_int_mdb_err (self, "verifying the tree", rc);
    else if (fr->bad) {
        err = IH_E_PROOF;
        zsys_error ("log: verify failed in %s at hub_seq=%" PRIu64 ": %s",
                    self->dir, fr->bad, fr->why);
        if (bad_hub_seq_p)
            *bad_hub_seq_p = fr->bad;
        if (why_p)
            *why_p = strdup (fr->why);
    }
    free (fr);
    return err;
}
