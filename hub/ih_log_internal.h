/*  =========================================================================
    ih_log_internal - what ih_log.c and ih_log_tree.c share (private)

    Not part of any contract: only the two files of the ih_log module
    include it. ih_log.c holds the log itself (open, batches, appends,
    readers); ih_log_tree.c holds the Merkle tree's storage, its readers,
    the checkpoints and ih_log_verify. The essay on durability, threads
    and layout is at the top of ih_log.c.
    =========================================================================*/
#ifndef IH_LOG_INTERNAL_H_INCLUDED
#define IH_LOG_INTERNAL_H_INCLUDED

#include <czmq.h>
#include <lmdb.h>
#include <pthread.h>
#include "ih_log.h"

#define IH_LOG_TREE_KEY 9 //  level (1) || index (8)

struct _ih_log_t {
    char *dir;                 //  data directory, for log lines
    bool readonly;             //  opened with MDB_RDONLY
    MDB_env *env;              //  the one environment of this process
    MDB_dbi log;               //  hub_seq -> record
    MDB_dbi index;             //  site||0||seq -> hub_seq
    MDB_dbi sites;             //  site -> last seq || last hash
    MDB_dbi meta;              //  "format", "bytes"
    MDB_dbi tree;              //  level||index -> subtree hash
    MDB_dbi checkpoints;       //  size -> signed checkpoint
    bool has_tree;             //  false: a format-1 log opened read-only
    pthread_t owner;           //  the thread that opened it: the only writer
    pthread_rwlock_t map_lock; //  readers shared, ih_log_grow exclusive
    MDB_txn *txn;              //  the open batch, or NULL
    MDB_txn *pinned;           //  read-only: the pinned snapshot, or NULL
    ih_err_t failed; //  IH_OK, or the error that doomed the open batch
    //  Committed state, kept only by the writer (readers ask LMDB)
    uint64_t last;   //  last committed hub_seq
    uint64_t events; //  committed events
    uint64_t bytes;  //  committed record bytes
    uint64_t nsites; //  committed sites
    //  State of the open batch
    uint64_t next; //  hub_seq the next append gets
    uint64_t batch_events;
    uint64_t batch_bytes;
    uint64_t batch_sites;
    bool batch_checkpoint; //  the batch stored a checkpoint
};

//  Merkle store callbacks (ih_merkle.h) over one LMDB transaction.
typedef struct {
    ih_log_t *self;
    MDB_txn *txn;
    int rc; //  the LMDB error that made a callback fail, or 0
} ih_log_int_tree_io_t;

//  Entry callbacks of ih_log_int_walk.
typedef struct {
    ih_log_site_fn *site_fn;
    ih_log_index_fn *index_fn;
    ih_log_checkpoint_fn *checkpoint_fn;
    void *arg;
} ih_log_int_walk_t;

//  Translates an LMDB error where it enters our code, logging its text;
//  IH_E_FULL for a full map or disk, else IH_E_STORE.
ih_err_t ih_log_int_mdb_err (ih_log_t *self, const char *what, int rc);

//  Marks the open batch doomed after an LMDB write error; returns its code.
ih_err_t ih_log_int_fail (ih_log_t *self, const char *what, int rc);

//  Begins a read transaction (or hands out the pinned one), holding
//  map_lock shared until ih_log_int_read_end. Returns an LMDB code.
int ih_log_int_read_begin (ih_log_t *self, MDB_txn **txn_p);
void ih_log_int_read_end (ih_log_t *self, MDB_txn *txn);

//  True on the writer's thread while its batch is open.
bool ih_log_int_writer_busy (ih_log_t *self);

//  Last hub_seq, entry counts and the bytes counter, read in txn.
int ih_log_int_read_state (ih_log_t *self, MDB_txn *txn, uint64_t *last_p,
                           uint64_t *events_p, uint64_t *bytes_p,
                           uint64_t *sites_p);

//  ih_log_int_read_begin for the readers that refuse to run inside the
//  writer's open batch. Errors: IH_E_STORE (a batch is open, or LMDB
//  failed), IH_E_FULL.
ih_err_t ih_log_int_reader_begin (ih_log_t *self, MDB_txn **txn_p);

//  Walks the entries of dbi from the first key >= *from (from NULL: every
//  entry) in one read transaction until each returns non-zero. The key
//  and value live until each returns. Errors: IH_E_STORE.
ih_err_t ih_log_int_walk (ih_log_t *self, MDB_dbi dbi, const MDB_val *from,
                          int (*each) (const MDB_val *key, const MDB_val *val,
                                       void *arg),
                          void *arg);

//  The tree table's key for (level, index), IH_LOG_TREE_KEY bytes.
void ih_log_int_tree_key (uint64_t level, uint64_t index, uint8_t *key);
//  ih_merkle_get_fn / ih_merkle_put_fn over an ih_log_int_tree_io_t.
int ih_log_int_tree_get (uint64_t level, uint64_t index, uint8_t *hash_out,
                         void *arg);
int ih_log_int_tree_put (uint64_t level, uint64_t index, const uint8_t *hash,
                         void *arg);
//  Format 1 to 2: adds every stored record's leaf to the emptied tree, in
//  txn; *count_p = records. Returns an LMDB code.
int ih_log_int_build_tree (ih_log_t *self, MDB_txn *txn, uint64_t *count_p);

#endif
